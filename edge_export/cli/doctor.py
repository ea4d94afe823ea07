"""`edge-export doctor`: can this machine do what `make run` does, and if not, what to install."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from edge_export.cli.app import app
from edge_export.cli.common import console, err, fail
from edge_export.errors import EdgeExportError

_YES, _NO = "[green]yes[/]", "[red]no[/]"


@app.command("doctor")
def doctor_cmd(
    as_json: bool = typer.Option(False, "--json", help="print the facts as JSON"),
    targets: Optional[list[str]] = typer.Option(
        None, "--target", "-t", help="the targets that must be ready (default: the ones `make run` exports)"),
) -> None:
    """Package versions, CPU and ISA, which targets export and run here (with the fix when not), test tools.

    Exit 0 when every default target (or every --target) can be exported and run here, else 1.
    """
    from edge_export.doctor import DEFAULT_TARGETS, collect
    from edge_export.targets import get_target

    try:
        for name in targets or ():
            get_target(name)  # a misspelt name is bad input (exit 2), not a machine that is not ready
    except EdgeExportError as e:
        fail(e)
    facts = collect(tuple(targets) if targets else DEFAULT_TARGETS)
    if as_json:
        # through the console: with library output redirected (cli/output.py) plain print() lands in the log
        console.print(json.dumps(facts.to_json(), indent=2), markup=False, highlight=False, soft_wrap=True)
    else:
        _render(facts)
    if not facts.ok:
        err.print(f"[bold red]not ready:[/] {'; '.join(facts.missing)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _render(facts) -> None:
    versions = Table(title=f"packages (Python {facts.python})")
    versions.add_column("package")
    versions.add_column("version")
    for name, version in facts.versions.items():
        versions.add_row(name, version or "[dim]not installed[/]")
    console.print(versions)

    cpu = facts.cpu
    isa = Table(title=f"CPU: {cpu.model} ({cpu.machine}), {cpu.logical_cpus} logical CPUs, "
                      f"{cpu.usable_cpus} usable here")
    for col in ("ISA", "here", "why it matters"):
        isa.add_column(col)
    for f in cpu.isa:
        isa.add_row(f.name, _YES if f.present else _NO, f.why)
    console.print(isa)

    table = Table(title="targets (* = must be ready; by default what `make run` exports)")
    for col in ("target", "runtime", "export", "run", "why not"):
        table.add_column(col)
    for t in facts.targets:
        name = f"{t.name}{' *' if t.required else ''}" + (" [yellow](experimental)[/]" if t.experimental else "")
        why = "; ".join(r for r in (t.export_reason, t.run_reason if t.export_reason != t.run_reason else None) if r)
        table.add_row(name, t.runtime, _YES if t.can_export else _NO, _YES if t.can_run else _NO, why)
    console.print(table)

    tools = Table(title="tools for `make test` and `qnn-sdk setup`")
    for col in ("tool", "for", "found", "version / why not"):
        tools.add_column(col)
    for t in facts.tools:
        tools.add_row(t.name, t.needed_for, t.path or "" if t.ok else _NO, t.version or "" if t.ok else t.reason or "")
    console.print(tools)
    if facts.ok:
        console.print(f"[green]ready:[/] {', '.join(facts.required)} can be exported and run here", highlight=False)
