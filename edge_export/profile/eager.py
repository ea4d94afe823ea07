"""The PyTorch eager baseline for an artifact's model: whole-model latency, same threads and input."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import torch

from edge_export.artifacts import read_manifest
from edge_export.images import validation_batch
from edge_export.models import load_from_source
from edge_export.profile.host_info import peak_rss_mb
from edge_export.profile.schema import Profile
from edge_export.profile.template import build_profile, timed_runs


def collect_eager(artifact_dir: Path, runs: int = 20, warmup: int = 3, threads: int = 1) -> Profile:
    manifest = read_manifest(artifact_dir)
    t0 = time.perf_counter()
    loaded = load_from_source(manifest.source)
    load_ms = (time.perf_counter() - t0) * 1e3
    _, x = validation_batch(manifest.preprocessing, 1)
    torch.set_num_threads(threads)
    with torch.no_grad():
        first, times = timed_runs(lambda: loaded.module(x), runs, warmup)
    req = SimpleNamespace(manifest=manifest, threads=threads, runs=runs, warmup=warmup)
    return build_profile(req, runtime="pytorch-eager", runtime_version=torch.__version__,
                         collector="torch-eager-wallclock", target="eager", latency_ms=times, load_ms=load_ms,
                         first_run_ms=first, peak_rss_mb=peak_rss_mb(),
                         notes=["eager PyTorch reference of the artifact's source model (no per-op rows)"])
