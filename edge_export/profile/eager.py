"""The PyTorch eager baseline for an artifact's model: whole-model latency, same threads and input."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from edge_export.artifacts import read_manifest
from edge_export.images import validation_batch
from edge_export.models import load_from_source
from edge_export.profile.host_info import host_device, peak_rss_mb
from edge_export.profile.schema import Profile, Provenance, Stats


def collect_eager(artifact_dir: Path, runs: int = 20, warmup: int = 3, threads: int = 1) -> Profile:
    manifest = read_manifest(artifact_dir)
    t0 = time.perf_counter()
    loaded = load_from_source(manifest.source)
    load_ms = (time.perf_counter() - t0) * 1e3
    _, x = validation_batch(manifest.preprocessing, 1)
    torch.set_num_threads(threads)
    times = []
    with torch.no_grad():
        t = time.perf_counter()
        loaded.module(x)
        first = (time.perf_counter() - t) * 1e3
        for _ in range(max(warmup - 1, 0)):
            loaded.module(x)
        for _ in range(runs):
            t = time.perf_counter()
            loaded.module(x)
            times.append((time.perf_counter() - t) * 1e3)
    prov = Provenance(
        where="host", device=host_device(), runtime="pytorch-eager", runtime_version=torch.__version__,
        collector="torch-eager-wallclock", model_id=manifest.model_id, target="eager",
        artifact_sha256=manifest.file_sha256, threads=threads, runs=runs, warmup=warmup,
        collected_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return Profile(provenance=prov, latency_ms=times, latency=Stats.of(times), load_ms=load_ms,
                   first_run_ms=first, peak_rss_mb=peak_rss_mb(),
                   notes=["eager PyTorch reference of the artifact's source model (no per-op rows)"])
