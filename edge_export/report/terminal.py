"""Terminal views of profiles: the top layers of one, and per-module side by side across several."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from edge_export.errors import EdgeExportError
from edge_export.evaluate.results import Evaluation, read_evaluation
from edge_export.profile.rollup import ModuleTree, rollup
from edge_export.profile.schema import WHOLE_MODEL, Profile, ProfileError, load_profile


def print_profile(profile: Profile, console: Console, top: int = 15) -> None:
    p, lat = profile.provenance, profile.latency
    sim = " [red](SIMULATOR: not device latency)[/]" if p.simulator else ""
    console.print(
        f"[bold]{p.model_id} {p.target}[/] on {p.where} ({p.device.get('cpu_model') or p.device.get('model', '')}), "
        f"{p.runtime} {p.runtime_version or ''}, {p.threads} thread(s){sim}", highlight=False,
    )
    if p.options.get("latency_stats") == "mean-only":
        console.print(f"latency: mean {lat.mean:.2f} ms over {p.runs} runs (the tool reports no per-run times)", highlight=False)
    else:
        console.print(
        f"latency over {lat.n} runs: median {lat.median:.2f} ms, p10 {lat.p10:.2f}, p90 {lat.p90:.2f}, min {lat.min:.2f}"
        + (f"; load {profile.load_ms:.0f} ms" if profile.load_ms else "")
        + (f"; first run {profile.first_run_ms:.1f} ms" if profile.first_run_ms else ""),
        highlight=False,
        )
    if profile.rows:
        _print_layers(profile, console, top)
    if profile.numeric_gap:
        print_numeric_gap(profile, console, min(top, 10))


def _print_layers(profile: Profile, console: Console, top: int) -> None:
    lat = profile.latency
    ops = profile.op_total_ms()
    console.print(
        f"{len(profile.rows)} op rows sum to {ops:.2f} ms ({ops / lat.median:.0%} of the median run); "
        f"{profile.attributed_fraction():.1%} of op time attributed to modules", highlight=False,
    )
    table = Table(title=f"top {top} layers")
    for col in ("module", "ms", "% ops", "ops", "kinds"):
        table.add_column(col)
    layers = sorted(rollup(profile.rows, "layer"), key=lambda m: -m.ms)[:top]
    for m in layers:
        kinds = ", ".join(k for k, _ in m.kinds.most_common(2))
        table.add_row(m.key, f"{m.ms:.3f}", f"{m.ms / ops:.1%}", str(m.ops), kinds)
    console.print(table)


def print_numeric_gap(profile: Profile, console: Console, top: int = 10) -> None:
    """The modules whose outputs are furthest from PyTorch (lowest cosine), and the whole model."""
    gaps = profile.numeric_gap or []
    layers = [g for g in gaps if g.module_path]
    whole = next((g for g in gaps if not g.module_path), None)
    order = {g.module_path: i for i, g in enumerate(layers)}
    table = Table(title=f"numeric gap to PyTorch: worst {min(top, len(layers))} of {len(layers)} module outputs by "
                        "cosine (# = position in program order)")
    for col in ("#", "module", "cosine (worst image)", "rel L2", "max |diff|"):
        table.add_column(col, justify="left" if col == "module" else "right")
    for g in sorted(layers, key=lambda g: g.cosine)[:top]:
        table.add_row(str(order[g.module_path]), g.module_path, f"{g.cosine:.6f}", f"{g.rel_l2:.3g}", f"{g.max_abs:.3g}")
    if whole is not None:
        table.add_row("", f"[bold]{WHOLE_MODEL}[/]", f"{whole.cosine:.6f}", f"{whole.rel_l2:.3g}", f"{whole.max_abs:.3g}")
    console.print(table)


def _profiles_from(paths: list[Path]) -> list[tuple[Profile, Path]]:
    """(profile, the folder it was found in) for every profile file given or found in a given artifact dir."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(p.glob("profile-*.json"))
        elif p.is_file():
            files.append(p)
        else:
            raise EdgeExportError(f"{p} does not exist: give profile JSON files or artifact dirs")
    if not files:
        raise EdgeExportError("no profiles found: run `edge-export profile ARTIFACT_DIR` first")
    try:
        return [(load_profile(f), f.parent) for f in files]
    except ProfileError as e:
        raise EdgeExportError(str(e)) from None


def _evaluation_of(profile: Profile, folder: Path) -> Evaluation | None:
    """The eval.json of the program this profile timed: beside the profile or one folder up (profiles/)."""
    for d in (folder, folder.parent):
        ev = read_evaluation(d)
        if ev is not None and not ev.stale_for(profile.provenance.artifact_sha256):
            return ev
    return None


def compare_profiles(paths: list[Path], depth: str, top: int, console: Console) -> None:
    found = [(p, d) for p, d in _profiles_from(paths) if p.rows]
    if not found:
        raise EdgeExportError("none of the profiles has per-op rows to compare")
    profiles = [p for p, _ in found]
    evaluations = [_evaluation_of(p, d) for p, d in found]
    level: str | int = int(depth) if depth.isdigit() else depth
    tree = ModuleTree(r.module_path for p in profiles for r in p.rows)
    per = [{m.key: m.ms for m in rollup(p.rows, level, tree)} for p in profiles]
    keys = sorted({k for d in per for k in d}, key=lambda k: -max(d.get(k, 0.0) for d in per))[:top]
    table = Table(title=f"per-module latency (ms, median per op summed) at depth {depth}")
    table.add_column("module")
    heads = [p.provenance.target for p in profiles]
    for (p, folder), head in zip(found, heads):
        pv = p.provenance
        if heads.count(head) > 1:  # e.g. tflite-int8 with and without a float_modules recipe: name the folder
            head = folder.name if folder.name != "profiles" else folder.parent.name
        table.add_column(f"{head}\n{pv.where}{' (sim)' if pv.simulator else ''}", justify="right")
    for k in keys:
        table.add_row(k, *[f"{d[k]:.3f}" if k in d else "-" for d in per])
    table.add_row("[bold]whole run (median)[/]", *[f"{p.latency.median:.3f}" for p in profiles], end_section=True)
    if any(evaluations):
        table.add_row("[bold]top-1 on your images[/] (eval.json)",
                      *[f"{100 * e.top1:.2f}%" if e else "not evaluated" for e in evaluations])
        table.add_row("top-1 drop vs PyTorch",
                      *[f"{e.drop:+.2f} pt" if e else "-" for e in evaluations])
        images = {(e.data_sha256, e.images) for e in evaluations if e}
        if len(images) > 1:
            table.caption = "accuracy rows come from different image sets: compare within one set"
    console.print(table)
