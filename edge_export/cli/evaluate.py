"""`edge-export evaluate`: accuracy of artifacts on your labelled images (ImageFolder layout)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from edge_export.cli.app import app
from edge_export.cli.common import console, fail, step_bars
from edge_export.cli.output import keep_log_in
from edge_export.errors import EdgeExportError


@app.command("evaluate")
def evaluate_cmd(
    artifact_dirs: List[Path] = typer.Argument(..., help="artifact directories written by `export`"),
    data: Path = typer.Option(..., "--data", help="labelled images: one subfolder per class (ImageFolder layout)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="score this many images (seeded choice)"),
    threads: int = typer.Option(1, "--threads", help="runtime threads"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.txt (one per line, output order) or a JSON "
                                          "id->name map, when the manifest's labels do not name your class folders"),
) -> None:
    """Top-1/top-5 accuracy of each artifact in its runtime and of the PyTorch reference; writes eval.json."""
    from edge_export.evaluate import evaluate

    try:
        with step_bars() as progress:
            written = evaluate(list(artifact_dirs), data, limit=limit, threads=threads, labels=labels, progress=progress)
    except EdgeExportError as e:
        fail(e)
    table = Table(title=f"accuracy on {data}")
    for col in ("artifact", "images", "top-1", "top-5", "reference top-1", "drop (points)", "agree with reference"):
        table.add_column(col)
    unreadable = set()
    for path in written:
        r = json.loads(path.read_text())
        a, ref = r["artifact"], r["reference"]
        top5 = next((v for k, v in a.items() if k.startswith("top") and k != "top1"), None)
        table.add_row(f"{r['model_id']} {r['target']}", str(r["data"]["images"]), f"{a['top1']:.2%}",
                      "–" if top5 is None else f"{top5:.2%}", f"{ref['top1']:.2%}", f"{100 * r['top1_drop']:+.2f}",
                      f"{r['agreement']['top1_agree']:.2%}")
        unreadable.update(r["data"]["unreadable"])
    console.print(table)
    if unreadable:
        console.print(f"[yellow]skipped {len(unreadable)} unreadable file(s):[/] {', '.join(sorted(unreadable)[:5])}"
                      + (" ..." if len(unreadable) > 5 else ""), highlight=False)
    for path in written:
        keep_log_in(path.parent, "evaluate.log")
        console.print(f"wrote {path}", highlight=False)
