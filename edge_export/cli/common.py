"""What every command shares: the consoles, one-line errors, KEY=VALUE options and the progress spinner."""

from __future__ import annotations

import contextlib

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
    """Spinner with the current step; each finished step is printed with its elapsed time.

    No refresh thread (auto_refresh off): export forks workers, and a thread caught inside a write to stderr
    at fork time leaves the worker's stderr locked. The display refreshes on each message and on `tick()`,
    which waiting loops call."""

    def __init__(self):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.p = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                          transient=True, auto_refresh=False)
        self.task = None

    def tick(self) -> None:
        self.p.refresh()

    def __enter__(self):
        self.p.__enter__()
        self.task = self.p.add_task("starting", total=None)
        return self

    def __call__(self, msg: str) -> None:
        self.p.console.print(f"[dim]{msg}[/]", highlight=False)
        self.p.update(self.task, description=msg, refresh=True)

    def __exit__(self, *exc):
        self.p.__exit__(*exc)


@contextlib.contextmanager
def step_bars():
    """rich progress bars, one per named step (transient): yields progress(what, done, total)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    tasks: dict[str, int] = {}
    with Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
              console=err, transient=True) as bar:

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        yield progress
