"""Accuracy on the user's labelled images (eval.json from `edge-export evaluate`) beside latency and size:
the accuracy-vs-latency scatter people choose a target from, and the top-1 each artifact loses against its
PyTorch reference. Every number is read from an eval.json or a profile and cites it."""

from __future__ import annotations

from edge_export.report.dashboard.html import cite, esc, fig_html, fmt_ms

DROP_BAR = 1.0  # points of top-1 an int8 artifact may lose (issue "your own data": within 1 point of fp32)


def is_int8(target: str) -> bool:
    return "int8" in target


def target_label(m) -> str:
    """The target, and the modules an int8 recipe kept float: two tflite-int8 artifacts of one model differ there."""
    kept = m.target_options.get("float_modules") or []
    return m.target + (f" (float: {', '.join(kept)})" if kept else "")


def _evaluated(artifacts) -> list:
    return [a for a in artifacts if a.evaluation is not None]


def accuracy_cell(a) -> str:
    """The overview table's accuracy column for artifact `a`."""
    ev = a.evaluation if a is not None else None
    if ev is None:
        return "<span class='small'>not evaluated</span>" if a is not None else "—"
    if ev.stale_for(a.manifest.file_sha256):
        return "<span class='bad'>stale eval.json</span> <span class='small'>(re-run evaluate)</span>"
    cls = "bad" if is_int8(a.manifest.target) and ev.drop > DROP_BAR else "ok"
    return (f"top-1 <b>{100 * ev.top1:.2f}%</b> <span class='{cls}'>({-ev.drop:+.2f} pt)</span><br>"
            f"<span class='small'>PyTorch {100 * ev.reference_top1:.2f}% on {ev.images} images</span>")


def _latency_points(a, profiles):
    """The measured (not simulated, not eager) profiles of artifact `a`."""
    return [e for e in profiles if e.artifact is a and not e.simulated and not e.is_eager and e.profile.latency.median > 0]


def _scatter(fresh, profiles, fid: str) -> str:
    import plotly.graph_objects as go

    fig = go.Figure()
    models = sorted({a.manifest.model_id for a in fresh})
    for model in models:
        xs, ys, text, sizes = [], [], [], []
        for a in (a for a in fresh if a.manifest.model_id == model):
            for e in _latency_points(a, profiles):
                xs.append(e.profile.latency.median)
                ys.append(100 * a.evaluation.top1)
                text.append(f"{target_label(a.manifest)} [{e.pid}] {e.prov.threads}t")
                sizes.append(a.manifest.file_bytes / 1e6)
        if not xs:
            continue
        name = model if len(models) > 1 else "artifacts"
        fig.add_scatter(name=name, mode="markers+text", x=xs, y=ys, text=text, textposition="top center",
                        customdata=sizes, marker=dict(size=11),
                        hovertemplate="%{text}<br>%{x:.3f} ms · top-1 %{y:.2f}% · %{customdata:.2f} MB<extra></extra>")
        ref = next(a.evaluation for a in fresh if a.manifest.model_id == model)
        fig.add_hline(y=100 * ref.reference_top1, line_dash="dash", line_color="grey",
                      annotation_text=f"{model} PyTorch {100 * ref.reference_top1:.2f}%", annotation_position="bottom right")
    fig.update_layout(height=440, margin=dict(l=60, r=10, t=40, b=40), xaxis_title="median latency, ms (profile)",
                      yaxis_title="top-1 on your images, %", title="Accuracy against latency (up and left is better)")
    return fig_html(fig, fid)


def _drops(fresh, fid: str) -> str:
    import plotly.graph_objects as go

    labels = [f"{a.manifest.model_id}: {target_label(a.manifest)} [{a.aid}]" for a in fresh]
    drops = [a.evaluation.drop for a in fresh]
    colors = ["#c0392b" if is_int8(a.manifest.target) and d > DROP_BAR else "#2e86c1" if is_int8(a.manifest.target)
              else "#95a5a6" for a, d in zip(fresh, drops)]
    fig = go.Figure(go.Bar(x=drops, y=labels, orientation="h", marker_color=colors,
                           hovertemplate="%{y}<br>%{x:+.2f} points below PyTorch<extra></extra>"))
    fig.add_vline(x=DROP_BAR, line_dash="dot", line_color="#c0392b",
                  annotation_text=f"int8 bar: {DROP_BAR:g} point", annotation_position="top")
    fig.update_layout(height=120 + 30 * len(fresh), margin=dict(l=10, r=10, t=40, b=40),
                      xaxis_title="top-1 points lost against the PyTorch reference",
                      yaxis=dict(autorange="reversed", automargin=True),
                      title="Top-1 drop per artifact (red: an int8 target over the bar)")
    return fig_html(fig, fid)


def _table(evaluated, profiles) -> str:
    head = ("<tr><th>model</th><th>target</th><th>top-1</th><th>top-5</th><th>PyTorch top-1</th><th>drop</th>"
            "<th>same top-1 as PyTorch</th><th>size</th><th>median latency</th><th>images</th></tr>")
    rows = []
    for a in evaluated:
        ev, m = a.evaluation, a.manifest
        stale = ev.stale_for(m.file_sha256)
        lat = ", ".join(f"{fmt_ms(e.profile.latency.median)} ms {cite(e)}" for e in _latency_points(a, profiles)) or "not profiled"
        drop_cls = "bad" if is_int8(m.target) and ev.drop > DROP_BAR else ""
        rows.append(
            f"<tr><td>{esc(m.model_id)}</td><td>{esc(target_label(m))} {cite(a)}</td>"
            f"<td class='num'>{100 * ev.top1:.2f}%</td><td class='num'>{'—' if ev.top5 is None else f'{100 * ev.top5:.2f}%'}</td>"
            f"<td class='num'>{100 * ev.reference_top1:.2f}%</td><td class='num {drop_cls}'>{ev.drop:+.2f} pt</td>"
            f"<td class='num'>{100 * ev.agreement_top1:.1f}%</td><td class='num'>{m.file_bytes / 1e6:.2f} MB</td>"
            f"<td>{lat}</td><td class='small'>{ev.images} from <code>{esc(ev.data_root)}</code>"
            f"{' <span class=bad>stale: evaluated another program</span>' if stale else ''}</td></tr>")
    return f"<table class='overview' id='accuracy-table'>{head}{''.join(rows)}</table>"


def accuracy_section(artifacts, profiles) -> tuple[str, list[str]]:
    evaluated = _evaluated(artifacts)
    if not evaluated:
        return ("<p class='note'>No artifact has an eval.json: run <code>edge-export evaluate ARTIFACT_DIR... "
                "--data DIR</code> on a labelled folder (one subfolder per class) to see accuracy here.</p>"), []
    fresh = [a for a in evaluated if not a.evaluation.stale_for(a.manifest.file_sha256)]
    datasets = {a.evaluation.data_sha256 for a in fresh}
    intro = (f"<p class='small'>Top-1 on the user's labelled images, each artifact in its own runtime and its PyTorch "
             f"reference on the same images (<code>eval.json</code>). Latency is the artifact's profile median "
             f"(simulator runs are not latency and are left out of the scatter)."
             + (" <b>The artifacts were evaluated on different image sets: compare within one set.</b>" if len(datasets) > 1 else "")
             + "</p>")
    ids, figs = [], ""
    if any(_latency_points(a, profiles) for a in fresh):
        figs += _scatter(fresh, profiles, "fig-accuracy")
        ids.append("fig-accuracy")
    if fresh:
        figs += _drops(fresh, "fig-accuracy-drop")
        ids.append("fig-accuracy-drop")
    return intro + _table(evaluated, profiles) + figs, ids
