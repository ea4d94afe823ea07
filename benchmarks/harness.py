"""Drive contestant worker processes (benchmarks/worker.py) through interleaved rounds.

Only one worker computes at any moment; every round visits every contestant (in a rotated order, so no
one always runs right after the same neighbour) for every thread count. Medians/minimums are over all
rounds. Ratios between contestants are only meaningful inside one interleaved run on these shared boxes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_export.child import ChildFailed, Session

WORKER = Path(__file__).resolve().parent / "worker.py"


class WorkerError(ChildFailed):
    pass


class Worker:
    """One contestant process (benchmarks/worker.py through edge_export.child). `kind` as worker.py takes it.
    Started without waiting, so several workers load in parallel; the first send waits for it to be ready."""

    def __init__(self, kind: str, log_dir: Path | None = None):
        self.kind = kind
        log_path = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            log_path = log_dir / f"worker-{kind.replace(':', '_')}.log"
        self.session = Session(f"{WORKER}:serve", {"kind": kind}, what=f"worker {kind}", log_path=log_path,
                               failed=WorkerError, wait_ready=False)
        self.proc = self.session.proc

    def send(self, **cmd) -> None:
        ready = self.session.wait_ready()
        if not ready.get("ok"):
            raise WorkerError(f"worker {self.kind} failed to start: {ready}")
        self.session.send(cmd)

    def recv(self) -> dict:
        return self.session.recv(f"answering ({self.kind})")

    def call(self, **cmd) -> dict:
        self.send(**cmd)
        return self.recv()

    def close(self) -> None:
        self.session.close()


@dataclass
class Contestant:
    name: str  # row name: eager, torch.compile, onnxruntime, xnnpack-fp32, ... , gemm-peak
    worker: Worker
    load: dict  # the load command's fields (model, options, artifact, onnx, ...)
    flops: int | None = None  # per run; None: not a model
    loaded: bool = False
    load_s: float | None = None
    extra: dict = field(default_factory=dict)
    error: str | None = None
    times: dict[int, list[float]] = field(default_factory=dict)  # threads -> ms
    only_threads: list[int] | None = None  # serves only these thread counts (torch.compile: one per process)

    def thread_counts(self, threads: list[int]) -> list[int]:
        return [t for t in threads if self.only_threads is None or t in self.only_threads]


def load_all(contestants: list[Contestant], threads: list[int], progress=print) -> None:
    """Send every load first (workers load in parallel), then collect the replies."""
    pending = []
    for c in contestants:
        try:
            c.worker.send(cmd="load", threads=c.thread_counts(threads), **c.load)
            pending.append(c)
        except WorkerError as e:
            c.error = str(e)
    for c in pending:
        try:
            reply = c.worker.recv()
        except WorkerError as e:
            reply = {"ok": False, "error": str(e)}
        if reply.get("ok"):
            c.loaded, c.load_s, c.extra = True, reply.get("load_s"), reply.get("extra", {})
        else:
            c.error = reply.get("error", "load failed")
            progress(f"  {c.name}: load failed: {c.error}")


def interleave(contestants: list[Contestant], threads: list[int], rounds: int, per_round: int,
               warmup: int = 1, progress=print, loads: list | None = None) -> None:
    live = [c for c in contestants if c.loaded and not c.error]
    for r in range(rounds):
        order = live[r % len(live):] + live[: r % len(live)] if live else []
        for c in order:
            for t in c.thread_counts(threads):
                if c.error:
                    continue
                try:
                    reply = c.worker.call(cmd="run", model=c.load["model"], threads=t, n=per_round, warmup=warmup)
                except WorkerError as e:
                    reply = {"ok": False, "error": str(e)}
                if reply.get("ok"):
                    c.times.setdefault(t, []).extend(reply["times_ms"])
                else:
                    c.error = reply.get("error")
                    progress(f"  {c.name}: run failed: {c.error}")
        if loads is not None:
            loads.append(os.getloadavg()[0])
        progress(f"  round {r + 1}/{rounds} done (load {os.getloadavg()[0]:.2f})")


def unload_all(contestants: list[Contestant]) -> None:
    for c in contestants:
        if c.loaded:
            try:
                c.worker.call(cmd="unload", model=c.load["model"])
            except WorkerError:
                pass


def stats(times: list[float]) -> dict:
    a = np.asarray(times, dtype=float)
    return {
        "n": int(a.size),
        "median_ms": float(np.median(a)),
        "min_ms": float(a.min()),
        "p10_ms": float(np.percentile(a, 10)),
        "p90_ms": float(np.percentile(a, 90)),
    }


def now() -> float:
    return time.perf_counter()
