"""The dashboard's plotly figures: op kinds, per-run latency and the per-module numeric gap (latency by
module is layers.py). Each returns (html, figure ids) so the page can count what it drew."""

from __future__ import annotations

from edge_export.profile.rollup import kind_totals
from edge_export.profile.schema import WHOLE_MODEL
from edge_export.report.dashboard.html import (MS_TITLE, PCT_TITLE, SIM_MARK, default_unit, fig_html, fmt_ms, timing_label,
                                               unit_buttons)


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
    unit = default_unit([sum(per[e.pid].values()) for e in with_rows])
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
        f'<div class="levels">unit: {unit_buttons("kinds", unit)}</div>'
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
            label = timing_label(e.prov)  # e.g. Arm under QEMU: "emulated: relative cost only"
            t += (f"<br><span style='color:#c62828;font-size:11px'><b>{SIM_MARK}</b>"
                  + (f" · {label}" if label else "") + "</span>")
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
