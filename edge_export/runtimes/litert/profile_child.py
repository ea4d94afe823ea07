"""Child side of the LiteRT host profiler: load the model with LiteRT's C API, run and profile it, return events.

It imports only numpy and edge_export.runtimes.litert.capi, so its peak RSS is that of a process that
loads and runs the model (not of the parent, which also holds PyTorch), and a crash inside libLiteRt
(a corrupted file can segfault it) ends this child, not the caller.
"""

from __future__ import annotations

import numpy as np

from edge_export.profile.host_info import peak_rss_mb


def _events_json(profile) -> list[dict]:
    keep = []
    for e in profile.events:
        if e.is_op or (e.kind == "runtime" and e.name == "Invoke"):
            keep.append({"name": e.name, "kind": e.kind, "op_index": e.op_index, "run": e.run,
                         "ms": e.elapsed_ms, "seq": e.seq, "subgraph": e.metadata2})
    return keep


def measure(req: dict) -> dict:
    import time

    from edge_export.runtimes.litert.capi import LiteRtProfiledModel

    x = np.load(req["input"])
    out: dict = {}
    t0 = time.perf_counter()
    with LiteRtProfiledModel(req["model"], threads=req["threads"], kernel_mode=req["kernel_mode"]) as m:
        out["load_ms"] = (time.perf_counter() - t0) * 1e3
        warmup = req["warmup"]
        if warmup >= 1:
            t0 = time.perf_counter()
            m.run([x])
            out["first_run_ms"] = (time.perf_counter() - t0) * 1e3
            warmup -= 1
        c0, w0 = time.process_time(), time.perf_counter()
        p = m.profile([x], runs=req["runs"], warmup=warmup)
        c1, w1 = time.process_time(), time.perf_counter()
        # CPU time of all threads vs wall time over the profiled calls: tells whether other
        # processes took the cores away (per-op medians then exclude the preempted stretches).
        out["cpu_over_wall"] = (c1 - c0) / max(w1 - w0, 1e-9)
        if "first_run_ms" not in out:
            out["first_run_ms"] = p.whole_run_ms[0]
        out["whole_run_ms"] = p.whole_run_ms
        out["events"] = _events_json(p)
        out["input_names"] = [i.name for i in m.inputs]
    out["peak_rss_mb"] = peak_rss_mb()
    if req.get("cross_check_runs"):
        with LiteRtProfiledModel(req["model"], threads=req["threads"], kernel_mode="builtin") as m:
            p = m.profile([x], runs=req["cross_check_runs"], warmup=1)
            out["cross_check"] = {"whole_run_ms": p.whole_run_ms, "events": _events_json(p)}
    return out
