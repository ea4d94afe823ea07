"""`edge-export int8-sensitivity`: which modules an int8 target should keep float, as a recipe for export."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from edge_export.cli.app import app
from edge_export.cli.common import console, fail, parse_opts, step_bars
from edge_export.errors import EdgeExportError


def _fmt(s: dict, by: str) -> str:
    return f"{s['top1']:.2%} (cos {s['cosine']:.5f})" if by == "top1" else f"cos {s['cosine']:.6f}"


@app.command("int8-sensitivity")
def sensitivity_cmd(
    model: str = typer.Argument(..., help="as for export: zoo id, hf:..., module:..., timm:..."),
    target: str = typer.Option(..., "--target", "-t", help="xnnpack-int8 or tflite-int8"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="weights, as for export"),
    data: Optional[Path] = typer.Option(None, "--data", help="labelled images (one subfolder per class): score by top-1 "
                                        "accuracy; without it, cosine to the float model on sample photographs"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.txt or id->name JSON, as for evaluate"),
    limit: Optional[int] = typer.Option(None, "--limit", help="score on this many images of --data (seeded choice)"),
    images: int = typer.Option(16, "--images", help="without --data: sample photographs to score on"),
    depth: str = typer.Option("block", "--depth", help="candidate modules: stage, block or layer"),
    budget: int = typer.Option(3, "--budget", help="at most this many modules kept float"),
    calib: int = typer.Option(32, "--calib", help="calibration images, as for export"),
    calib_dir: Optional[Path] = typer.Option(None, "--calib-dir", help="calibrate on your images, as for export"),
    seed: int = typer.Option(0, "--seed"),
    opt: Optional[List[str]] = typer.Option(None, "--opt", help="model option KEY=VALUE"),
    target_opt: Optional[List[str]] = typer.Option(None, "--target-opt", help="the target's other options KEY=VALUE"),
    threads: int = typer.Option(1, "--threads", help="threads for the simulation and the runtime"),
    cross_check: bool = typer.Option(True, "--cross-check/--no-cross-check",
                                     help="export the target without and with the recipe and score both in its runtime"),
    keep: Optional[Path] = typer.Option(None, "--keep", help="keep the cross-check artifacts under this dir"),
    report: Optional[Path] = typer.Option(None, "--report", help="write the whole result as JSON here"),
) -> None:
    """Rank modules by what keeping each float recovers, pick <= --budget greedily, print the export recipe."""
    from edge_export.artifacts import write_json_atomic
    from edge_export.sensitivity import SensitivityRequest, int8_sensitivity

    try:
        request = SensitivityRequest(
            model=model, target=target, checkpoint=checkpoint, seed=seed, model_options=parse_opts(opt, "--opt"),
            target_options=parse_opts(target_opt, "--target-opt"), data=data, labels=labels, limit=limit,
            images=images, depth=depth, budget=budget, calib=calib, calib_dir=calib_dir, threads=threads,
            cross_check=cross_check, keep=keep)
        with step_bars() as progress:
            result = int8_sensitivity(request, progress)
        if report is not None:
            write_json_atomic(report, result)
    except EdgeExportError as e:
        fail(e)
    by = result["scored_by"]
    console.print(f"{result['model_id']} {target}: float {_fmt(result['reference'], by)}, "
                  f"int8 {_fmt(result['baseline'], by)} on {result['data']['images']} images", highlight=False)
    table = Table(title=f"kept float alone ({result['depth']} depth, best first)")
    for col in ("module", "quantized ops changed", "score", "recovered"):
        table.add_column(col)
    for row in result["ranking"][:15]:
        gained = f"{100 * row['gain']:+.2f} points" if by == "top1" else f"{row['gain']:+.6f}"
        table.add_row(row["module"], str(row["ops"]), _fmt(row, by), gained)
    console.print(table)
    for step in result["greedy"]:
        console.print(f"greedy: {', '.join(step['float_modules'])} -> {_fmt(step, by)}", highlight=False)
    check = result.get("cross_check")
    if check:
        for label in ("int8", "recipe"):
            if label in check:
                c = check[label]
                console.print(f"real {target} ({label}): {_fmt(c, by)}, {c['file_bytes'] / 1e6:.3f} MB, "
                              f"{c['median_ms']:.2f} ms median at {c['threads']} thread(s)", highlight=False)
        if "size_ratio" in check:
            console.print(f"the recipe costs {check['size_ratio']:.2f}x size, {check['latency_ratio']:.2f}x latency",
                          highlight=False)
    if result["recipe"]:
        console.print(f"recipe: --target-opt {result['recipe']}", highlight=False)
    else:
        console.print("recipe: no module kept float helps on these images", highlight=False)
    if report is not None:
        console.print(f"wrote {report}", highlight=False)
