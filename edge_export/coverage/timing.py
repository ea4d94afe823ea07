"""Latency contestants, one child process each (edge_export.child.Session): an artifact in its runtime at one
thread count, or the fp32 GEMM peak through ExecuTorch's XNNPACK. The parent interleaves rounds across
contestants so no two compute at once and drift spreads over all of them."""

from __future__ import annotations

import time

GEMM_N = 1024  # compute bound on a CPU core, a few ms a run


def gemm_flops(n: int = GEMM_N) -> int:
    return 2 * n * n * n


def serve(init: dict):
    """The child's handler: init {"artifact": DIR, "threads": T} or {"gemm": N, "threads": T};
    each request {"n": runs, "warmup": W} -> {"ok": true, "times_ms": [...]}."""
    run = _gemm(init["gemm"], init["threads"]) if "gemm" in init else _artifact(init["artifact"], init["threads"])

    def handle(request: dict) -> dict:
        for _ in range(int(request.get("warmup", 0))):
            run()
        times = []
        for _ in range(int(request["n"])):
            t0 = time.perf_counter()
            run()
            times.append((time.perf_counter() - t0) * 1e3)
        return {"ok": True, "times_ms": times}

    return handle


def _artifact(artifact: str, threads: int):
    import numpy as np

    from edge_export.artifacts import read_manifest
    from edge_export.runtimes import open_runner

    manifest = read_manifest(artifact)
    runner = open_runner(artifact, manifest, threads=threads)
    size = manifest.preprocessing.image_size
    x = runner.prepare_input(np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32))
    return lambda: runner.run_raw([x])


def _gemm(n: int, threads: int):
    import torch
    from executorch.runtime import Runtime

    from edge_export.runtimes.executorch.program import lower_to_xnnpack
    from edge_export.runtimes.executorch.runner import set_executorch_threads

    # weights constant, as in every exported model: XNNPACK packs them once, at load
    linear = torch.nn.Linear(n, n, bias=False).eval()
    x = torch.randn(n, n)
    program = lower_to_xnnpack(torch.export.export(linear, (x,))).to_executorch()
    set_executorch_threads(threads)
    loaded = Runtime.get().load_program(program.buffer)  # the method lives only as long as its program
    method = loaded.load_method("forward")
    return lambda: (loaded, method.execute([x]))
