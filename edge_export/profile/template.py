"""What every collector shares: the provenance of a profile, its timing loop, and the program input.

A collector measures; `build_profile` writes down where and how, so every profile names its runtime
and version, collector, artifact, threads, runs and time the same way.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import numpy as np

from edge_export.profile.schema import OpRow, Profile, Provenance, Stats


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_profile(
    req,
    *,
    collector: str,
    runtime: str | None = None,
    latency_ms: list[float],
    runtime_version: str | None = None,
    where: str = "host",
    device: dict[str, str] | None = None,
    latency: Stats | None = None,
    runs: int | None = None,
    warmup: int | None = None,
    target: str | None = None,
    simulator: bool = False,
    options: dict[str, Any] | None = None,
    rows: Iterable[OpRow] = (),
    notes: Iterable[str] = (),
    **measured,
) -> Profile:
    """A profile of `req`'s artifact: provenance from the request and manifest, then what was measured
    (`measured`: load_ms, first_run_ms, peak_rss_mb, numeric_gap, complete). `runtime` defaults to the
    artifact's (the manifest's), `device` to this host."""
    if device is None:
        from edge_export.profile.host_info import host_device

        device = host_device()
    manifest = req.manifest
    provenance = Provenance(
        where=where, device=device, runtime=runtime or manifest.runtime, runtime_version=runtime_version, collector=collector,
        simulator=simulator, model_id=manifest.model_id, target=target or manifest.target,
        artifact_sha256=manifest.file_sha256, threads=req.threads, runs=req.runs if runs is None else runs,
        warmup=req.warmup if warmup is None else warmup, collected_at=now_iso(),
        options={k: str(v) for k, v in (options or {}).items() if v is not None},
    )
    return Profile(provenance=provenance, latency_ms=latency_ms, latency=latency or Stats.of(latency_ms),
                   rows=list(rows), notes=list(notes), **measured)


def timed_runs(run: Callable[[], object], runs: int, warmup: int) -> tuple[float, list[float]]:
    """(first run ms, ms of each of `runs` runs after `warmup` warm-up runs, the first included)."""
    t = time.perf_counter()
    run()
    first_ms = (time.perf_counter() - t) * 1e3
    for _ in range(max(warmup - 1, 0)):
        run()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1e3)
    return first_ms, times


def program_input(manifest) -> tuple[np.ndarray, str]:
    """The first validation photograph as the program takes it (layout, dtype), and its name."""
    from edge_export.images import validation_batch
    from edge_export.runtimes.base import to_program_input

    names, batch = validation_batch(manifest.preprocessing, 1)
    return np.ascontiguousarray(to_program_input(batch.numpy(), manifest.inputs[0])), names[0]
