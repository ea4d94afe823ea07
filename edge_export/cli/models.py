"""`edge-export models`, `edge-export targets`: what can be exported, and to what."""

from __future__ import annotations

from rich.table import Table

from edge_export.cli.app import app
from edge_export.cli.common import console


@app.command("models")
def models_cmd() -> None:
    """The model zoo, with parameter counts and FLOPs at 224x224."""
    from edge_export.models import list_models, load_model
    from edge_export.models.swiftformer.spec import PAPER_PARAMS_M

    table = Table(title="edge-export model zoo")
    for col in ("id", "params (M)", "paper (M)", "GFLOPs", "description"):
        table.add_column(col)
    for entry in list_models():
        m = load_model(entry.model_id)
        table.add_row(
            entry.model_id, f"{m.param_count() / 1e6:.3f}", str(PAPER_PARAMS_M.get(entry.variant, "")),
            f"{m.flops() / 1e9:.3f}", entry.description,
        )
    console.print(table)
    console.print("Other sources: hf:<folder> or hf:<model_type> (any transformers image classifier), "
                  "module:<python.path>:<callable>, timm:<name> (needs timm); --checkpoint loads weights.")


@app.command("targets")
def targets_cmd() -> None:
    """Export targets and their options."""
    from edge_export.targets import list_targets

    table = Table(title="targets")
    for col in ("name", "runtime", "precision", "options", "description"):
        table.add_column(col)
    for t in list_targets():
        desc = ("[yellow]experimental[/] " if t.experimental else "") + t.description
        table.add_row(t.name, t.runtime, t.precision, ", ".join(sorted(t.accepted_options)), desc)
    console.print(table)
