"""What every command shares: the consoles, one-line errors, KEY=VALUE options and the progress spinner."""

from __future__ import annotations

import contextlib
import re
import time

import typer
from rich.console import Console

from edge_export.errors import EdgeExportError

console = Console()
err = Console(stderr=True)


def fail(*errors: EdgeExportError) -> None:
    """One line per error on stderr, the highest exit code (2 for bad input), no traceback."""
    for e in errors:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
    raise typer.Exit(max(e.exit_code for e in errors))


def parse_opts(pairs: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise EdgeExportError(f"bad {what} {p!r}: write KEY=VALUE")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


class Progress:
    """One live row per target with its current stage, a bar while a stage counts (calibrated 8/32), and the
    target's elapsed time. Messages "target: stage" pick the row; anything else is the command's own row.
    A finished target ("target: wrote DIR") leaves one line with its time. Off a terminal (CI logs, pipes)
    nothing is drawn and each stage is one plain line instead.

    No refresh thread (auto_refresh off): export forks workers, and a thread caught inside a write to stderr
    at fork time leaves the worker's stderr locked. The display refreshes on each message and on `tick()`,
    which waiting loops call."""

    _COUNT = re.compile(r"(\d+)/(\d+)")
    _MAIN = "edge-export"

    def __init__(self):
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.live = err.is_terminal
        # redirect_* off: rich would route Python-level library output (warnings, logging) through the
        # terminal console; it belongs in the log (edge_export/cli/output.py).
        self.p = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[row]}[/]"), TextColumn("{task.description}"),
                          BarColumn(bar_width=16), TimeElapsedColumn(), console=err, transient=True,
                          redirect_stdout=False, redirect_stderr=False, auto_refresh=False, disable=not self.live)
        self.rows: dict[str, tuple[int, float]] = {}  # row -> (task, started)

    def tick(self) -> None:
        self.p.refresh()

    def __enter__(self):
        self.p.__enter__()
        return self

    def __call__(self, msg: str) -> None:
        row, _, stage = msg.partition(": ")
        if not stage or " " in row:
            row, stage = self._MAIN, msg
        if not self.live:
            self.p.console.print(f"[dim]{msg}[/]", highlight=False, soft_wrap=True)
            return
        if row not in self.rows:
            self.rows[row] = self.p.add_task(stage, row=row, total=None), time.monotonic()
        task, started = self.rows[row]
        if stage.startswith("wrote "):
            elapsed = time.monotonic() - started
            del self.rows[row]
            self.p.remove_task(task)
            self.p.console.print(f"[green]✓[/] [bold]{row}[/] {elapsed:.1f} s  [dim]{stage}[/]", highlight=False,
                                 soft_wrap=True)
        else:
            count = self._COUNT.search(stage)
            done, total = (int(count[1]), int(count[2])) if count else (0, None)
            self.p.update(task, description=stage, completed=done, total=total)
        self.p.refresh()

    def __exit__(self, *exc):
        self.p.__exit__(*exc)


@contextlib.contextmanager
def step_bars():
    """rich progress bars, one per named step (transient): yields progress(what, done, total)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    tasks: dict[str, int] = {}
    with Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
              console=err, transient=True, redirect_stdout=False, redirect_stderr=False) as bar:

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        yield progress
