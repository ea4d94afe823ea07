"""Export work groups run side by side in forked worker processes.

Lowering and conversion are single-threaded Python (ExecuTorch's passes, litert-torch's tracing): on a
machine with two cores, two targets exported at once take the time of the longer one, not the sum
(docs/measurements.md "Export cost"). A worker is a fork of the process that loaded the model and built
its export form, so nothing is loaded twice and any in-memory model (a LoadedModel made in Python) works.

A group is the targets that share work inside one process (tflite-fp32/-int8/-dynamic-int8 share one fp32
conversion): a group never spans workers. Each target ends as an `Outcome` - its artifact, or the one-line
error it failed with - whatever the other targets do. Progress lines travel to the parent over a pipe.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Callable, Sequence

from edge_export import interrupt
from edge_export.errors import EdgeExportError, ExportFailed


@dataclass
class Outcome:
    target: str
    path: Path | None = None
    error: EdgeExportError | None = None


Progress = Callable[[str], None]
Work = Callable[[str, Progress], Path]  # (target name, progress) -> artifact dir; raises EdgeExportError


_fork_unsafe: list[str] = []  # why forking this process would hang a worker (mark_fork_unsafe)


def mark_fork_unsafe(reason: str) -> None:
    """This process now holds native state a fork does not carry over (e.g. a thread pool whose threads
    the child would wait on forever): later exports from it run their groups in this process."""
    if reason not in _fork_unsafe:
        _fork_unsafe.append(reason)


def fork_unsafe_reason() -> str | None:
    return _fork_unsafe[0] if _fork_unsafe else None


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def job_count(requested: int | None, groups: int) -> int:
    """Workers to run: the request's, else one per core; never more than there are groups."""
    if requested is not None and requested < 1:
        raise EdgeExportError(f"--jobs must be at least 1 (got {requested})")
    return max(1, min(groups, requested or usable_cores()))


def run_in_process(groups: Sequence[Sequence[str]], work: Work, progress: Progress) -> list[Outcome]:
    out = []
    for group in groups:
        for name in group:
            try:
                out.append(Outcome(name, path=work(name, progress)))
            except EdgeExportError as e:
                out.append(Outcome(name, error=e))
    return out


def run_forked(groups: Sequence[Sequence[str]], work: Work, jobs: int, progress: Progress,
               threads_per_job: int = 1) -> list[Outcome]:
    """Each group in a forked worker, at most `jobs` at once, groups started in the order given."""
    ctx = multiprocessing.get_context("fork")
    pending = list(groups)
    running: dict[Connection, tuple[multiprocessing.process.BaseProcess, list[str]]] = {}
    outcomes: dict[str, Outcome] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                group = list(pending.pop(0))
                parent_end, child_end = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker, args=(group, work, child_end, threads_per_job), daemon=True)
                with interrupt.signals_held():
                    proc.start()
                    interrupt.add_worker(proc.pid)
                child_end.close()
                running[parent_end] = (proc, group)
            tick = getattr(progress, "tick", None)
            if tick is not None:
                tick()
            for conn in wait(list(running), timeout=0.25):
                proc, group = running[conn]
                if _drain(conn, outcomes, progress):
                    continue
                del running[conn]
                conn.close()
                proc.join()
                interrupt.remove_worker(proc.pid)
                for name in group:
                    if name not in outcomes:
                        outcomes[name] = Outcome(name, error=ExportFailed(
                            f"{name}: the export worker {_died(proc.exitcode)} before finishing; nothing was written"))
    except BaseException:  # KeyboardInterrupt in library use (the CLI's handler exits in edge_export.interrupt)
        for proc, _ in running.values():
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
        raise
    return [outcomes[name] for group in groups for name in group]


def _drain(conn: Connection, outcomes: dict[str, Outcome], progress: Progress) -> bool:
    """Handle every message waiting on `conn`; False once the worker closed it."""
    while True:
        try:
            kind, *payload = conn.recv()
        except (EOFError, OSError):
            return False
        if kind == "progress":
            progress(payload[0])
        elif kind == "done":
            outcomes[payload[0]] = Outcome(payload[0], path=Path(payload[1]))
        elif kind == "failed":
            outcomes[payload[0]] = Outcome(payload[0], error=_unpickled(payload[1], payload[2]))
        elif kind == "crashed":
            raise RuntimeError(f"export worker for {payload[0]} raised:\n{payload[1]}")
        if not conn.poll():
            return True


def _unpickled(blob: bytes | None, message: str) -> EdgeExportError:
    try:
        error = pickle.loads(blob) if blob else None
    except Exception:
        error = None
    return error if isinstance(error, EdgeExportError) else ExportFailed(message)


def _died(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _worker(group: list[str], work: Work, conn: Connection, threads: int) -> None:
    interrupt.in_forked_worker()
    interrupt.release()  # held across the fork (run_forked)
    import torch

    # The parent's intra-op pool does not survive fork; one worker per core wants one thread each anyway.
    torch.set_num_threads(threads)
    send = conn.send
    try:
        for name in group:
            try:
                path = work(name, lambda msg: send(("progress", msg)))
            except EdgeExportError as e:
                try:
                    blob = pickle.dumps(e)
                except Exception:
                    blob = None
                send(("failed", name, blob, str(e)))
            except Exception:
                send(("crashed", name, traceback.format_exc()))
                return
            else:
                send(("done", name, str(path)))
    finally:
        conn.close()
