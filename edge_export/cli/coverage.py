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
    strict: bool = typer.Option(False, "--strict", help="exit 1 if any cell failed (an Arm result never fails a cell)"),
    arm_cpu: str = typer.Option("cortex-a76", "--arm-cpu", help="emulated Arm CPU for the 'Arm kernels (emulated)' "
                                "column: each .tflite cell validated on LiteRT's aarch64 build under QEMU (see "
                                "`edge-export arm cpus`)"),
    no_arm: bool = typer.Option(False, "--no-arm", help="skip the Arm kernels (emulated) column"),
) -> None:
    """Export, validate and time many models on every target; a failing cell keeps its one-line error."""
    from edge_export.arm.cpus import CPUS
    from edge_export.coverage import DEFAULT, QUICK, QUICK_TARGETS, default_targets, resolve, run_coverage
    from edge_export.targets import get_target

    try:
        entries = resolve(list(models)) if models else (QUICK if quick else DEFAULT)
        targets = list(target) if target else (QUICK_TARGETS if quick else default_targets())
        for t in targets:
            get_target(t)  # an unknown target is bad input, before any work
        if runs < 1:
            raise EdgeExportError("--runs must be >= 1")
        if not no_arm and arm_cpu not in CPUS:
            raise EdgeExportError(f"unknown --arm-cpu {arm_cpu!r}: choose one of {', '.join(CPUS)} (or --no-arm)")
        with Progress() as progress:
            result = run_coverage(entries, targets, out, threads=list(threads or [1, 2]), runs=runs,
                                  arm_cpu=None if no_arm else arm_cpu, progress=progress)
    except EdgeExportError as e:
        fail(e)
    keep_log_in(out, "coverage.log")
    failed = [c for c in result["cells"] if not c["ok"]]
    console.print(f"wrote {out / 'coverage.json'} and {out / 'coverage.md'}: {len(result['cells']) - len(failed)} of "
                  f"{len(result['cells'])} cells exported and validated")
    for c in failed:
        console.print(f"  [red]failed[/] {c['model']} {c['target']}: {c['error']}", highlight=False)
    _print_arm(result)
    if strict and failed:
        raise typer.Exit(1)


def _print_arm(result: dict) -> None:
    """The Arm column in one line, and every .tflite cell that missed the bar or crashed on Arm."""
    arm = result["arm"]
    if arm["status"] != "ran":
        console.print(f"Arm kernels (emulated): {arm['status']}", highlight=False)
        return
    ran = [c for c in result["cells"] if c.get("arm")]
    bad = [c for c in ran if not c["arm"]["passed"]]
    console.print(f"Arm kernels (emulated, {arm['cpu']}): {len(ran) - len(bad)} of {len(ran)} .tflite cells pass",
                  highlight=False)
    for c in bad:
        why = c["arm"].get("error") or f"cosine min {c['arm']['cosine_min']:.5f} below the bar"
        console.print(f"  [yellow]Arm[/] {c['model']} {c['target']}: {why}", highlight=False)
