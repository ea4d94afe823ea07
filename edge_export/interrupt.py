"""Ctrl-C and SIGTERM end a command at once, wherever it is, leaving nothing half-written.

Raising an exception from the signal handler is not enough: a signal can land inside an extension's
import (nanobind aborts the process when an exception crosses its enum set-up) or in CPython's at-fork
hooks (which print and drop the exception). So the handler does the clean-up itself: it stops the forked
export workers it knows (each removes its own staging dirs the same way), removes this process's staging
dirs, and exits with 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM), the shell's convention.

Only the CLI installs the handler (`install`); library users keep Python's default behaviour, and the
registries below are then just bookkeeping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_staging: set[Path] = set()  # output being written by this process: removed on a stop signal
_workers: set[int] = set()  # pids of forked export workers of this process
_main_pid: int | None = None  # the process that prints the one line
_report_fd: int = 2  # where that line goes (the terminal, when the CLI sends library output to a log)


@contextlib.contextmanager
def removed_if_stopped(make: Callable[[], T], path_of: Callable[[T], str | Path] = lambda made: made) -> Iterator[T]:
    """Yield what `make()` creates (a staging dir, a temp file); its path (`path_of`) is removed if a stop
    signal ends the process inside the block. Signals are held from creating it to registering it."""
    with signals_held():
        made = make()
        path = Path(path_of(made))
        _staging.add(path)
    try:
        yield made
    finally:
        _staging.discard(path)


def remove_on_stop(path: Path) -> None:
    """`path` is removed if a stop signal ends the process (for the whole run, e.g. a temporary log)."""
    _staging.add(Path(path))


def report_to(fd: int) -> None:
    global _report_fd
    _report_fd = fd


def add_worker(pid: int) -> None:
    _workers.add(pid)


def remove_worker(pid: int) -> None:
    _workers.discard(pid)


def in_forked_worker() -> None:
    """Called first thing in a forked worker: the parent's registries are not this process's."""
    _staging.clear()
    _workers.clear()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Stop signals wait until the block ends (a fork and the new worker's registration): a worker must
    never exist unregistered. The forked child starts with them held too and calls `release()`."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def release() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _stop(signum, frame) -> None:
    for s in STOP_SIGNALS:  # a second Ctrl-C must not cut this clean-up short
        signal.signal(s, signal.SIG_IGN)
    for pid in list(_workers):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for pid in list(_workers):
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break
            time.sleep(0.02)
    for p in list(_staging):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
    if os.getpid() == _main_pid:
        with contextlib.suppress(Exception):
            show = "\x1b[?25h" if os.isatty(_report_fd) else ""  # rich hides the cursor while it draws progress
            line = f"{show}\ninterrupted by {signal.Signals(signum).name}: nothing half-written was kept\n"
            os.write(_report_fd, line.encode())
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(128 + signum)


def install() -> None:
    global _main_pid
    _main_pid = os.getpid()
    for s in STOP_SIGNALS:
        signal.signal(s, _stop)
