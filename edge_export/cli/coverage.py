"""`edge-export coverage`: the model x target matrix (export, delegation, parity, latency, % of GEMM peak)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edge_export.cli.app import app
from edge_export.cli.common import Progress, console, fail
from edge_export.cli.output import keep_log_in
from edge_export.errors import EdgeExportError


@app.command("coverage")
def coverage_cmd(
    models: Optional[List[str]] = typer.Argument(None, help="coverage entries or model ids (default: the coverage set)"),
    target: Optional[List[str]] = typer.Option(None, "--target", "-t", help="target; repeat (default: every CPU target)"),
    out: Path = typer.Option(Path("artifacts/coverage"), "--out", "-o", help="folder for coverage.json/.md and artifacts"),
    quick: bool = typer.Option(False, "--quick", help="three small models, two targets"),
    runs: int = typer.Option(20, "--runs", help="timed runs per cell and thread count"),
    threads: Optional[List[int]] = typer.Option(None, "--threads", help="thread counts to time (default 1 and 2)"),
    strict: bool = typer.Option(False, "--strict", help="exit 1 if any cell failed"),
) -> None:
    """Export, validate and time many models on every target; a failing cell keeps its one-line error."""
    from edge_export.coverage import DEFAULT, QUICK, QUICK_TARGETS, default_targets, resolve, run_coverage
    from edge_export.targets import get_target

    try:
        entries = resolve(list(models)) if models else (QUICK if quick else DEFAULT)
        targets = list(target) if target else (QUICK_TARGETS if quick else default_targets())
        for t in targets:
            get_target(t)  # an unknown target is bad input, before any work
        if runs < 1:
            raise EdgeExportError("--runs must be >= 1")
        with Progress() as progress:
            result = run_coverage(entries, targets, out, threads=list(threads or [1, 2]), runs=runs, progress=progress)
    except EdgeExportError as e:
        fail(e)
    keep_log_in(out, "coverage.log")
    failed = [c for c in result["cells"] if not c["ok"]]
    console.print(f"wrote {out / 'coverage.json'} and {out / 'coverage.md'}: {len(result['cells']) - len(failed)} of "
                  f"{len(result['cells'])} cells exported and validated")
    for c in failed:
        console.print(f"  [red]failed[/] {c['model']} {c['target']}: {c['error']}", highlight=False)
    if strict and failed:
        raise typer.Exit(1)
