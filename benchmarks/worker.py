"""One benchmark contestant per process: the suite drives it over a pipe, one JSON command per line.

    edge_export.child.Session("benchmarks/worker.py:serve", {"kind": CONTESTANT})   (benchmarks/harness.py)

CONTESTANT is `eager`, `compile@<threads>`, `ort`, `gemm`, or `artifact:<target>` (any edge-export target: the
artifact's manifest names its runtime). A worker loads one backend for several models/thread counts and
runs only when told to, so the suite can interleave rounds across processes while exactly one contestant
computes at a time (no two runtimes' thread pools fight over the 2 cores, and none shares a process).

Commands and replies (one JSON object a line each way, edge_export.child's session protocol):
  {"cmd": "load", "model": ID, "options": {...}, "threads": [1, 2], "artifact": DIR, "onnx": PATH, "image_size": N}
      -> {"ok": true, "load_s": .., "extra": {...}}
  {"cmd": "run", "model": ID, "threads": T, "n": N, "warmup": W}  -> {"ok": true, "times_ms": [...]}
  {"cmd": "unload", "model": ID}  -> {"ok": true}
  {"cmd": "quit"}
Errors reply {"ok": false, "error": "..."}; the worker keeps serving. Anything a runtime prints goes to
the worker's log, not to the protocol channel.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path


GEMM_N = 2048  # fp32 matmul size for the compute peak: big enough to be compute bound, ~0.1-0.3 s a run here


def gemm_flops(n: int = GEMM_N) -> int:
    return 2 * n * n * n


class _Backend:
    """Holds one model (or the GEMM) for every thread count it was loaded with."""

    def run(self, threads: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _input(image_size: int):
    import torch

    g = torch.Generator().manual_seed(0)
    return torch.randn(1, 3, image_size, image_size, generator=g)


class _Eager(_Backend):
    """The user's model in eager PyTorch, or torch.compile'd. Inductor's C++ kernels are specialised on
    torch.get_num_threads() at compile time and dynamo does not recompile when it changes, so a compiled
    worker serves ONE thread count (the suite starts one `compile@T` worker per T)."""

    def __init__(self, model: str, options: dict, image_size: int, compile_: bool, threads: list[int] | None = None):
        import torch

        from edge_export.models import load_model

        self.torch = torch
        loaded = load_model(model, options=options)
        self.module = loaded.module.eval()
        self.x = _input(image_size)
        self.fn = self._call
        self.extra = {}
        if compile_:
            if threads is not None and len(threads) != 1:
                raise ValueError(f"a torch.compile worker serves one thread count, got {threads}")
            if threads:
                torch.set_num_threads(threads[0])
            start = time.perf_counter()
            compiled = torch.compile(self.module)
            with torch.inference_mode():
                compiled(self.x)  # compiles
            self.extra["compile_s"] = round(time.perf_counter() - start, 2)
            self.module = compiled

    def _call(self):
        with self.torch.inference_mode():
            return self.module(self.x)

    def run(self, threads: int) -> None:
        if self.torch.get_num_threads() != threads:
            self.torch.set_num_threads(threads)
        self.fn()


class _Ort(_Backend):
    def __init__(self, onnx_path: str, image_size: int, threads: list[int]):
        import onnxruntime as ort

        self.sessions = {}
        for t in threads:
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.intra_op_num_threads = t
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            self.sessions[t] = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        first = next(iter(self.sessions.values()))
        self.input_name = first.get_inputs()[0].name
        self.x = _input(image_size).numpy()
        self.extra = {"onnxruntime": ort.__version__, "providers": first.get_providers()}

    def run(self, threads: int) -> None:
        self.sessions[threads].run(None, {self.input_name: self.x})


class _Artifact(_Backend):
    """An artifact in its own runtime. A runtime whose thread pool is process-global (ExecuTorch's XNNPACK pool:
    a loaded method keeps the pool it was loaded with, resetting the pool under it leaves it at the old size)
    keeps one runner at a time, dropped and reloaded (untimed) when the requested thread count changes. Other
    runtimes hold one runner per thread count."""

    def __init__(self, artifact_dir: str, image_size: int, threads: list[int]):
        from edge_export.artifacts import read_manifest

        self.dir = Path(artifact_dir)
        self.manifest = read_manifest(self.dir)
        self.runtime = self.manifest.runtime
        from edge_export.runtimes import get_runtime

        self.one_pool = get_runtime(self.runtime).process_global_threads
        self.x = _input(image_size).numpy()
        self.runners, self.inputs = {}, {}
        if not self.one_pool:
            for t in threads:
                self._open(t)
        self.extra = {"runtime": self.runtime, "target": self.manifest.target}

    def _open(self, threads: int) -> None:
        from edge_export.runtimes import open_runner

        r = open_runner(self.dir, self.manifest, threads=threads)
        self.runners[threads], self.inputs[threads] = r, r.prepare_input(self.x)

    def run(self, threads: int) -> None:
        if threads not in self.runners:
            if self.one_pool:
                self.close()
                gc.collect()
            self._open(threads)  # ExecuTorchRunner resets the pool to `threads` before loading
        self.runners[threads].run_raw([self.inputs[threads]])

    def close(self) -> None:
        for r in self.runners.values():
            r.close()
        self.runners.clear()
        self.inputs.clear()


class _Gemm(_Backend):
    def __init__(self, n: int = GEMM_N):
        import torch

        self.torch = torch
        g = torch.Generator().manual_seed(0)
        self.a = torch.randn(n, n, generator=g)
        self.b = torch.randn(n, n, generator=g)
        self.c = torch.empty(n, n)
        self.extra = {"n": n, "flops": gemm_flops(n)}

    def run(self, threads: int) -> None:
        if self.torch.get_num_threads() != threads:
            self.torch.set_num_threads(threads)
        self.torch.mm(self.a, self.b, out=self.c)


def _make(kind: str, cmd: dict) -> _Backend:
    threads = [int(t) for t in cmd.get("threads", [1])]
    size = int(cmd.get("image_size", 224))
    if kind == "eager":
        return _Eager(cmd["model"], cmd.get("options", {}), size, compile_=False)
    if kind.split("@")[0] == "compile":
        return _Eager(cmd["model"], cmd.get("options", {}), size, compile_=True, threads=threads)
    if kind == "ort":
        return _Ort(cmd["onnx"], size, threads)
    if kind == "gemm":
        return _Gemm(int(cmd.get("n", GEMM_N)))
    if kind.startswith("artifact:"):
        return _Artifact(cmd["artifact"], size, threads)
    raise ValueError(f"unknown contestant kind {kind!r}")


class Worker:
    """One contestant kind's backends by model; called once per command (edge_export.child.Session)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.backends: dict[str, _Backend] = {}
        self.ready = {"ready": kind, "pid": os.getpid()}

    def __call__(self, cmd: dict) -> dict:
        op = cmd["cmd"]
        if op == "load":
            start = time.perf_counter()
            self.backends[cmd["model"]] = b = _make(self.kind, cmd)
            for t in cmd.get("threads", [1]):  # first run: lazy init, packing, compilation
                b.run(int(t))
            return {"load_s": round(time.perf_counter() - start, 3), "extra": getattr(b, "extra", {})}
        if op == "run":
            b = self.backends[cmd["model"]]
            t = int(cmd["threads"])
            for _ in range(int(cmd.get("warmup", 1))):
                b.run(t)
            times = []
            for _ in range(int(cmd["n"])):
                start = time.perf_counter()
                b.run(t)
                times.append((time.perf_counter() - start) * 1e3)
            return {"times_ms": times}
        if op == "unload":
            b = self.backends.pop(cmd["model"], None)
            if b is not None:
                b.close()
            gc.collect()
            return {}
        return {"ok": False, "error": f"unknown command {op!r}"}


def serve(init: dict) -> Worker:
    """The child side (edge_export.child --serve benchmarks/worker.py:serve): one contestant per process."""
    return Worker(init["kind"])
