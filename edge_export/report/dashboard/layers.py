"""The per-layer section: a module × artifact heatmap (ms and % of each artifact's op time) with a
stage → block → layer drill-down, the top-N modules at the chosen depth as bars, and each backend's top
layers. Python rolls the profiles up (profile/rollup.py) into one JSON table embedded in the page;
static/layers.js draws both figures from it, so the drill-down needs no second copy of the numbers."""

from __future__ import annotations

import json

from edge_export.profile.rollup import LEVELS, UNATTRIBUTED, ModuleTree, rollup
from edge_export.report.dashboard.html import default_unit, esc, fmt_ms, sim_badge, unit_buttons
from edge_export.report.dashboard.inputs import ProfileEntry

TOP_N = 15  # modules drawn as bars at the chosen depth
HEAT_ID, BARS_ID, DATA_ID = "fig-layers-heat", "fig-layers-bars", "layers-data"


def _levels(with_rows: list[ProfileEntry], tree: ModuleTree) -> dict[str, list[dict]]:
    """Per level, the modules in model order (UNATTRIBUTED last): key, parent key one level up (None for a
    stage), ms and op count per profile (None where the profile has no op in that module)."""
    parent = [{}, {}, {}]
    for e in with_rows:
        for r in e.profile.rows:
            s, b, l = (tree.key(r.module_path, lv) for lv in LEVELS)
            parent[1][b], parent[2][l] = s, b
    out = {}
    for li, lv in enumerate(LEVELS):
        per = [{m.key: m for m in rollup(e.profile.rows, lv, tree)} for e in with_rows]
        pos: dict[str, float] = {}
        for d in per:
            for m in d.values():
                pos[m.key] = min(pos.get(m.key, 2.0), m.position)
        out[lv] = [
            {
                "k": k,
                "p": parent[li].get(k),
                "ms": [round(d[k].ms, 6) if k in d else None for d in per],
                "ops": [d[k].ops if k in d else None for d in per],
            }
            for k in sorted(pos, key=lambda k: (k == UNATTRIBUTED, pos[k]))
        ]
    return out


def _column(label: str) -> str:
    """A heatmap column header: the target on one line, where it ran and the citation on the next."""
    return esc(label).replace(" @ ", "<br>@ ", 1)


def layer_data(with_rows: list[ProfileEntry]) -> dict:
    """Everything layers.js draws: column headers, each profile's op total, the modules of every level."""
    tree = ModuleTree(r.module_path for e in with_rows for r in e.profile.rows)
    totals = [e.profile.op_total_ms() for e in with_rows]
    return {
        "cols": [_column(e.label) for e in with_rows],
        "sim": [e.simulated for e in with_rows],
        "total": [round(t, 6) or 1.0 for t in totals],
        "unit": default_unit(totals),
        "levels": _levels(with_rows, tree),
        "top": TOP_N,
    }


def _top_layers(with_rows: list[ProfileEntry], data: dict, n: int = 5) -> str:
    cols = []
    for j, e in enumerate(with_rows):
        mods = [(r["k"], r["ms"][j]) for r in data["levels"]["layer"] if r["ms"][j] is not None]
        total = sum(ms for _, ms in mods) or 1.0
        items = "".join(
            f"<li><code>{esc(k)}</code> {fmt_ms(ms)} ms ({100 * ms / total:.1f}%)</li>"
            for k, ms in sorted(mods, key=lambda km: -km[1])[:n]
        )
        sim = "<br>" + sim_badge(e.prov) if e.simulated else ""
        cols.append(f"<div class='topcol'><b>{esc(e.label)}</b>{sim}<ol>{items}</ol></div>")
    return f"<h3>Top {n} layers per backend</h3><div class='topgrid' id='top-layers'>{''.join(cols)}</div>"


def layers_section(profiles: list[ProfileEntry]) -> tuple[str, list[str]]:
    """(html, ids of the figures layers.js draws)."""
    with_rows = [e for e in profiles if e.profile.rows]
    if not with_rows:
        return "<p class='note'>No profile has per-op rows: nothing to break down by layer.</p>", []
    data = layer_data(with_rows)
    depth = "".join(
        f'<button type="button" class="lvl{" active" if lv == LEVELS[0] else ""}" data-level-btn="{lv}">{lv}</button>'
        for lv in LEVELS
    )
    attributed = " · ".join(
        f"{esc(e.label)}: {100 * e.profile.attributed_fraction():.0f}%" for e in with_rows
    )
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (
        f'<div class="levels">depth: {depth} <span class="sep"></span> unit: {unit_buttons("layers", data["unit"])}</div>'
        "<p class='small'>Sum of per-op medians by PyTorch module; stage = an element of the stage list "
        "(<code>network.N</code>), block = an element of a stage's block list, layer = the leaf module an op was "
        "attributed to. Colour = % of that column's op time (comparable across backends, a simulator included); "
        "cell text = ms or %. <b>Click a row</b> to open its blocks or layers. "
        f"Op time attributed to a module: {attributed}.</p>"
        '<div class="crumbs" id="layers-crumbs"></div>'
        f'<div class="heatwrap"><div class="plotly-graph-div layers-fig" id="{HEAT_ID}"></div></div>'
        f'<h3 id="layers-bars-title">The {TOP_N} most expensive modules</h3>'
        f'<div class="plotly-graph-div layers-fig" id="{BARS_ID}"></div>'
        f'<script type="application/json" id="{DATA_ID}">{payload}</script>'
        + _top_layers(with_rows, data)
    ), [HEAT_ID, BARS_ID]
