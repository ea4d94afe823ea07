"""The coverage matrix (edge-export coverage: coverage.json) as a dashboard section: a model x target heatmap
of latency relative to each model's fastest artifact (failed cells marked with their error), latency against
parameter count per target, and the .tflite cells on emulated Arm kernels. Every number is read from the file."""

from __future__ import annotations

from pathlib import Path

from edge_export.report.dashboard.arm import coverage_arm_table
from edge_export.report.dashboard.html import esc, fig_html

COVERAGE_SCHEMA = "edge-export-coverage/1"
COVERAGE_NAME = "coverage.json"


def _heatmap(cov: dict, threads: str, fid: str):
    import plotly.graph_objects as go

    models = list(dict.fromkeys(c["model"] for c in cov["cells"]))
    targets = cov["targets"]
    cells = {(c["model"], c["target"]): c for c in cov["cells"]}
    z, text = [], []
    for m in models:
        times = [cells.get((m, t), {}).get("median_ms", {}).get(threads) for t in targets]
        best = min((v for v in times if v), default=None)
        z.append([v / best if v and best else None for v in times])
        row = []
        for t, v in zip(targets, times):
            c = cells.get((m, t))
            if c is None:
                row.append("")
            elif not c["ok"]:
                row.append("✗ " + esc(c["error"])[:80])
            else:
                fb = f", {sum(c['fallback_ops'].values())} fallback" if c["fallback_ops"] else ""
                row.append(f"{v:.2f} ms · {c['subgraphs']} subgraph(s){fb}" if v else "not timed")
        text.append(row)
    fig = go.Figure(go.Heatmap(z=z, x=targets, y=models, text=text, texttemplate="%{text}", textfont=dict(size=9),
                               colorscale="RdYlGn_r", zmin=1, zmax=4, colorbar=dict(title="× fastest"),
                               hovertemplate="%{y} · %{x}<br>%{text}<extra></extra>"))
    fig.update_layout(height=140 + 34 * len(models), margin=dict(l=10, r=10, t=40, b=40),
                      title=f"Latency relative to each model's fastest artifact, {threads} thread(s) (✗ = failed)",
                      yaxis=dict(autorange="reversed", automargin=True))
    return fig_html(fig, fid)


def _scatter(cov: dict, threads: str, fid: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    for t in cov["targets"]:
        ok = [c for c in cov["cells"] if c["target"] == t and c["ok"] and c["median_ms"].get(threads) and c["params"]]
        if ok:
            fig.add_scatter(name=t, mode="markers", x=[c["params"] / 1e6 for c in ok],
                            y=[c["median_ms"][threads] for c in ok], text=[c["model"] for c in ok],
                            hovertemplate="%{text}<br>%{x:.2f} M params · %{y:.3f} ms<extra>" + t + "</extra>")
    fig.update_layout(height=420, margin=dict(l=60, r=10, t=40, b=40), xaxis_title="parameters (M)",
                      yaxis_title="median ms (log)", yaxis_type="log",
                      title=f"Latency against model size per target, {threads} thread(s)")
    return fig_html(fig, fid)


def coverage_section(coverages: list[tuple[Path, dict]]) -> tuple[str, list[str]]:
    if not coverages:
        return ("<p class='note'>No coverage matrix (run <code>make coverage</code> or <code>edge-export coverage</code>: "
                "it writes <code>OUT/coverage/coverage.json</code>, which the dashboard of OUT shows here).</p>"), []
    out, ids = [], []
    for i, (path, cov) in enumerate(coverages, 1):
        threads = str(cov["threads"][0])
        h = cov.get("host", {})
        peak = ", ".join(f"{v} GFLOP/s at {k} thread(s)" for k, v in cov.get("gemm_peak_gflops", {}).items())
        heat, scatter = f"coverage{i}-heatmap", f"coverage{i}-scatter"
        ok = sum(c["ok"] for c in cov["cells"])
        out.append(
            f"<div class='figwrap' id='coverage{i}'><p class='small'>From <code>{esc(path)}</code>, {esc(cov.get('created'))} "
            f"on {esc(h.get('cpu_model', '?'))} ({esc(h.get('cpu_flags', ''))}); {ok} of {len(cov['cells'])} cells exported "
            f"and validated; fp32 GEMM peak {esc(peak)}. Host CPU, not a phone: compare ratios.</p>"
            f"{_heatmap(cov, threads, heat)}{_scatter(cov, threads, scatter)}{coverage_arm_table(cov, i)}</div>")
        ids += [heat, scatter]
    return "".join(out), ids
