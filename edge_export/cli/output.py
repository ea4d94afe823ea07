"""What reaches the terminal: our own lines only. Everything the libraries print (torchao's missing
kernels, torch's pytree FutureWarnings, absl/TensorFlow INFO, ExecuTorch's cpuinfo complaints,
ai-edge-quantizer's tqdm bars; Python-level or straight from C++ to fd 2) goes to a log file.

How: at start the process's fds 1 and 2 are pointed at a temporary log file, and the CLI's rich consoles
write to duplicates of the original terminal fds. Forked workers and child processes inherit the redirected
fds, so their library output lands in the same log. At exit the command's log is copied where the command
said it belongs (`keep_log_in`: the artifact dir, as export.log, profile.log, ...) and one dim line names it.
`-v/--verbose` leaves the fds alone: library output streams to the terminal as it comes, no log.
The switch happens when a command starts running (edge_export/cli/app.py), after its arguments are parsed:
`--help` and usage errors are written by the CLI framework to fds 1 and 2 and must stay on the terminal.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from edge_export import interrupt

_log: Path | None = None
_keep: list[Path] = []
_terminal: dict[int, int] = {}  # fd -> duplicate of the terminal it had
_failed = False  # the command exits non-zero: then the log is named even when it has no folder of its own


def redirect_library_output() -> None:
    """Point fds 1 and 2 at a temporary log; the CLI's consoles keep the terminal."""
    global _log
    from edge_export.cli.common import console, err

    if _log is not None:
        return
    fd, name = tempfile.mkstemp(prefix="edge-export-", suffix=".log")
    _log = Path(name)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    for target in (1, 2):
        _terminal[target] = os.dup(target)
    console.file = os.fdopen(os.dup(_terminal[1]), "w", buffering=1, encoding="utf-8", errors="replace")
    err.file = os.fdopen(os.dup(_terminal[2]), "w", buffering=1, encoding="utf-8", errors="replace")
    for target in (1, 2):
        os.dup2(fd, target)
    os.close(fd)
    interrupt.report_to(_terminal[2])
    interrupt.remove_on_stop(_log)
    atexit.register(_finish)


def keep_log_in(folder: Path, name: str) -> None:
    """Copy this command's library output to folder/name when the command ends (if there was any)."""
    if Path(folder) / name not in _keep:
        _keep.append(Path(folder) / name)


def log_path() -> Path | None:
    return _log


def note_exit(code) -> None:
    global _failed
    _failed = code not in (None, 0)


def report_crash(e: BaseException) -> None:
    """An exception no command expected: its traceback into the log (or the terminal with -v), one line on the
    terminal."""
    import traceback

    from edge_export.cli.common import err

    note_exit(1)
    traceback.print_exception(e, file=sys.stderr)
    sys.stderr.flush()
    if _log is not None:
        err.print(f"[bold red]error:[/] unexpected {type(e).__name__}: {e} (a bug in edge-export or a library; "
                  "the traceback is in the library output named below)", highlight=False, soft_wrap=True)


def _finish() -> None:
    from edge_export.cli.common import err

    if _log is None:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        if _log.stat().st_size == 0:
            return
        kept = []
        for dest in _keep:
            with contextlib.suppress(OSError):
                if dest.parent.is_dir():
                    shutil.copyfile(_log, dest)
                    kept.append(dest)
        named = bool(kept) or _failed
        if not kept:  # nowhere of its own (the command failed early, or writes no folder): keep it anyway
            fallback = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edge-export" / "last.log"
            with contextlib.suppress(OSError):
                fallback.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(_log, fallback)
                kept.append(fallback)
        if kept and named:  # a successful command that wrote no folder keeps its log quietly
            err.print(f"[dim]library output: {kept[0]}{f' (and {len(kept) - 1} more)' if len(kept) > 1 else ''}[/]",
                      highlight=False, soft_wrap=True)
    finally:
        with contextlib.suppress(OSError):
            _log.unlink()
