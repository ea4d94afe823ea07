"""The dashboard's plotly figures: latency by module (stage/block/layer), op kinds, per-run latency and
the per-module numeric gap. Each returns (html, figure ids) so the page can count what it drew."""

from __future__ import annotations

from edge_export.profile.rollup import LEVELS, UNATTRIBUTED, ModuleTree, kind_totals, rollup
from edge_export.profile.schema import WHOLE_MODEL
from edge_export.report.dashboard.html import MS_TITLE, PCT_TITLE, SIM_MARK, esc, fig_html, fmt_ms, sim_badge
from edge_export.report.dashboard.inputs import ProfileEntry

LAYER_TOP = 40  # bars shown at the "layer" level (the rest are summed into one bar)
DEFAULT_LEVEL = "block"


def _default_unit(totals) -> str:
    """Shares when backends differ by more than 4x in op time (a simulator next to a CPU), else ms."""
    t = [v for v in totals if v > 0]
    return "pct" if t and max(t) > 4 * min(t) else "ms"


def _unit_buttons(group: str, unit: str) -> str:
    return "".join(
        f'<button type="button" class="lvl{" active" if u == unit else ""}" data-unit-btn="{group}:{u}" '
        f'onclick="setUnit(\'{group}\', \'{u}\')">{label}</button>'
        for u, label in (("ms", "ms"), ("pct", "% of op time"))
    )


def layer_figures(profiles: list[ProfileEntry]) -> tuple[str, list[str], str]:
    """(html for the level switch + figures, figure ids, top-layers table)."""
    with_rows = [e for e in profiles if e.profile.rows]
    if not with_rows:
        return "<p class='note'>No profile has per-op rows: nothing to break down by layer.</p>", [], ""
    tree = ModuleTree(r.module_path for e in with_rows for r in e.profile.rows)
    parts, ids = [], []
    buttons = "".join(
        f'<button type="button" class="lvl{" active" if lv == DEFAULT_LEVEL else ""}" data-level-btn="{lv}" onclick="showLevel(\'{lv}\')">{lv}</button>'
        for lv in LEVELS
    )
    unit = _default_unit([e.profile.op_total_ms() for e in with_rows])
    for lv in LEVELS:
        fid = f"fig-layers-{lv}"
        ids.append(fid)
        parts.append(_level_figure(with_rows, tree, lv, unit, fid))
    attributed = " · ".join(
        f"{esc(e.label)}: {100 * e.profile.attributed_fraction():.0f}% of op time attributed"
        for e in with_rows
    )
    intro = (
        f'<div class="levels">depth: {buttons} <span class="sep"></span> unit: {_unit_buttons("layers", unit)}</div>'
        f"<p class='small'>Sum of per-op medians by PyTorch module; stage = an element of the stage list "
        f"(<code>network.N</code>), block = an element of a stage's block list, layer = the leaf module an op "
        f"was attributed to. {attributed}.</p>"
    )
    return intro + "".join(parts), ids, _top_layers(with_rows, tree)


def _level_figure(with_rows, tree, lv: str, unit: str, fid: str) -> str:
    """One grouped bar chart: each backend's op time summed at module level `lv`."""
    import plotly.graph_objects as go

    per = {e.pid: rollup(e.profile.rows, lv, tree) for e in with_rows}
    totals = {e.pid: sum(m.ms for m in per[e.pid]) or 1.0 for e in with_rows}
    pos: dict[str, float] = {}
    for e in with_rows:
        for m in per[e.pid]:
            pos[m.key] = min(pos.get(m.key, 2.0), m.position)
    keys = sorted(pos, key=lambda k: (k == UNATTRIBUTED, pos[k]))
    share = {k: max(next((100 * m.ms / totals[e.pid] for m in per[e.pid] if m.key == k), 0.0) for e in with_rows) for k in keys}
    other = []
    if lv == "layer":
        keys = sorted(keys, key=lambda k: -share[k])
        if len(keys) > LAYER_TOP:
            keys, other = keys[:LAYER_TOP], keys[LAYER_TOP:]
    traces = []
    for e in with_rows:
        d = {m.key: m for m in per[e.pid]}
        ms = [d[k].ms if k in d else 0.0 for k in keys]
        ops = [d[k].ops if k in d else 0 for k in keys]
        ylabels = list(keys)
        if other:
            ms.append(sum(d[k].ms for k in other if k in d))
            ops.append(sum(d[k].ops for k in other if k in d))
            ylabels.append(f"(other {len(other)} layers)")
        pct = [100 * v / totals[e.pid] for v in ms]
        traces.append(
            go.Bar(
                name=e.label,
                y=ylabels,
                x=pct if unit == "pct" else ms,
                orientation="h",
                customdata=list(zip(pct, ms, ops)),
                hovertemplate="<b>%{y}</b><br>%{customdata[1]:.4f} ms · %{customdata[0]:.1f}% of op time"
                "<br>%{customdata[2]} ops<extra>" + e.label.replace("<", "&lt;") + "</extra>",
            )
        )
    n = len(keys) + (1 if other else 0)
    height = max(320, 130 + n * (10 * len(with_rows) + 8))
    fig = go.Figure(traces)
    fig.update_layout(
        template="plotly_white",
        barmode="group",
        height=height,
        xaxis_title=PCT_TITLE if unit == "pct" else MS_TITLE,
        yaxis=dict(autorange="reversed", automargin=True, type="category"),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0, xanchor="left"),
        margin=dict(l=10, r=10, t=40, b=40),
    )
    style = "" if lv == DEFAULT_LEVEL else ' style="display:none"'
    title = f"Latency by module — {lv} level" + (
        f" (the {LAYER_TOP} most expensive first)" if lv == "layer" else " (model order, top to bottom)"
    )
    return (
        f'<div class="figwrap" data-level-fig="{lv}" data-unit-group="layers"{style}>'
        f"<h3>{esc(title)}</h3>{fig_html(fig, fid)}</div>"
    )


def _top_layers(with_rows, tree, n: int = 5) -> str:
    cols = []
    for e in with_rows:
        mods = rollup(e.profile.rows, "layer", tree)
        total = sum(m.ms for m in mods) or 1.0
        top = sorted(mods, key=lambda m: -m.ms)[:n]
        items = "".join(
            f"<li><code>{esc(m.key)}</code> {fmt_ms(m.ms)} ms ({100 * m.ms / total:.1f}%)</li>" for m in top
        )
        sim = "<br>" + sim_badge() if e.simulated else ""
        cols.append(f"<div class='topcol'><b>{esc(e.label)}</b>{sim}<ol>{items}</ol></div>")
    return f"<h3>Top {n} layers per backend</h3><div class='topgrid' id='top-layers'>{''.join(cols)}</div>"


def kinds_figure(profiles) -> tuple[str, list[str]]:
    import plotly.graph_objects as go

    with_rows = [e for e in profiles if e.profile.rows]
    if not with_rows:
        return "<p class='note'>No profile has per-op rows.</p>", []
    per = {e.pid: kind_totals(e.profile.rows) for e in with_rows}
    kinds: dict[str, float] = {}
    for e in with_rows:
        tot = sum(per[e.pid].values()) or 1.0
        for k, v in per[e.pid].items():
            kinds[k] = kinds.get(k, 0.0) + v / tot
    order = sorted(kinds, key=lambda k: -kinds[k])
    labels = [e.label for e in with_rows]
    unit = _default_unit([sum(per[e.pid].values()) for e in with_rows])
    counts = {e.pid: {} for e in with_rows}
    for e in with_rows:
        for r in e.profile.rows:
            counts[e.pid][r.kind or "other"] = counts[e.pid].get(r.kind or "other", 0) + 1
    traces = []
    for k in order:
        ms = [per[e.pid].get(k, 0.0) for e in with_rows]
        pct = [100 * per[e.pid].get(k, 0.0) / (sum(per[e.pid].values()) or 1.0) for e in with_rows]
        ops = [counts[e.pid].get(k, 0) for e in with_rows]
        traces.append(
            go.Bar(
                name=k,
                y=labels,
                x=pct if unit == "pct" else ms,
                orientation="h",
                customdata=list(zip(pct, ms, ops)),
                hovertemplate="%{y}<br><b>" + k + "</b>: %{customdata[1]:.3f} ms · %{customdata[0]:.1f}%"
                " · %{customdata[2]} ops<extra></extra>",
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(
        template="plotly_white",
        barmode="stack",
        height=max(300, 110 + 45 * len(with_rows)),
        xaxis_title=PCT_TITLE if unit == "pct" else MS_TITLE,
        yaxis=dict(autorange="reversed", automargin=True, type="category"),
        legend=dict(traceorder="normal"),
        margin=dict(l=10, r=10, t=20, b=40),
    )
    return (
        f'<div class="levels">unit: {_unit_buttons("kinds", unit)}</div>'
        f'<div class="figwrap" data-unit-group="kinds"><h3>Op time by kind, per backend</h3>{fig_html(fig, "fig-kinds")}</div>'
    ), ["fig-kinds"]


def distribution_figure(profiles) -> tuple[str, list[str]]:
    """One box (with every run as a point) per profile, each on its own y scale: backends differ by
    orders of magnitude (a simulator vs a CPU), and a shared axis would flatten all but one."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    runs = [e for e in profiles if e.profile.latency_ms]
    if not runs:
        return "<p class='note'>No profile has per-run latencies.</p>", []
    cols = min(len(runs), 4)
    nrows = -(-len(runs) // cols)
    titles = []
    for e in runs:
        s = e.profile.latency
        t = f"{e.label}<br><span style='font-size:11px'>median {fmt_ms(s.median)} ms · n={s.n}</span>"
        if e.simulated:
            t += "<br><span style='color:#c62828;font-size:11px'><b>" + SIM_MARK + "</b></span>"
        titles.append(t)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=titles, horizontal_spacing=0.06,
                        vertical_spacing=0.5 / nrows if nrows > 1 else 0.1)
    for i, e in enumerate(runs):
        v = e.profile.latency_ms
        color = "#c62828" if e.simulated else None
        fig.add_trace(
            go.Box(
                y=v,
                name=e.pid,
                boxpoints="all" if len(v) <= 400 else "outliers",
                jitter=0.5,
                pointpos=0,
                boxmean=True,
                marker=dict(size=4, opacity=0.6, color=color),
                line=dict(color=color) if color else None,
                hovertemplate="%{y:.3f} ms<extra>" + e.label.replace("<", "&lt;") + "</extra>",
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_yaxes(title_text="ms per run", col=1)
    fig.update_annotations(font_size=12)
    fig.update_layout(
        template="plotly_white",
        height=80 + 380 * nrows,
        showlegend=False,
        margin=dict(l=10, r=10, t=70, b=30),
    )
    return (
        "<div class='figwrap'><h3>Whole-model latency per run (each panel on its own scale; box = quartiles, "
        f"dashed line = mean, dots = runs)</h3>{fig_html(fig, 'fig-latency')}</div>"
    ), ["fig-latency"]


def gap_figure(profiles) -> tuple[str, list[str]]:
    import plotly.graph_objects as go

    gaps = [e for e in profiles if e.profile.numeric_gap]
    if not gaps:
        return "<p class='note'>No profile carries a per-layer numeric gap.</p>", []
    order: dict[str, int] = {}
    for e in gaps:
        for g in e.profile.numeric_gap:
            order.setdefault(g.module_path, len(order))
    keys = sorted(order, key=order.get)
    traces = []
    for e in gaps:
        d = {g.module_path: g for g in e.profile.numeric_gap}
        ks = [k for k in keys if k in d]
        traces.append(
            go.Scatter(
                name=e.label,
                y=[k or WHOLE_MODEL for k in ks],  # "" is the root module: the whole model's output
                x=[max(d[k].rel_l2, 1e-12) for k in ks],
                mode="markers+lines",
                customdata=[(d[k].cosine, d[k].max_abs, d[k].rel_l2) for k in ks],
                hovertemplate="<b>%{y}</b><br>rel L2 %{customdata[2]:.3g}<br>cosine %{customdata[0]:.6f}"
                "<br>max |Δ| %{customdata[1]:.3g}<extra>" + e.label.replace("<", "&lt;") + "</extra>",
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(
        template="plotly_white",
        height=max(320, 110 + 18 * len(keys)),
        xaxis=dict(type="log", title="relative L2 error (log scale)", tickformat=".0e"),
        yaxis=dict(autorange="reversed", automargin=True, type="category"),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0, xanchor="left"),
        margin=dict(l=10, r=10, t=40, b=40),
        showlegend=True,
    )
    return (
        "<div class='figwrap'><h3>Numeric gap to PyTorch per module output</h3>"
        f"{fig_html(fig, 'fig-gap')}</div>"
    ), ["fig-gap"]
