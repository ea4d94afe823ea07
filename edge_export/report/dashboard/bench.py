"""The benchmark suite's results (benchmarks/suite.py: bench.json) as a dashboard section.

The dashboard finds them as `<dir>/bench/bench.json` in a folder it is given, or as a bench.json given
directly. Nothing here measures: every number is read from the file and shown with the run it came from.
"""

from __future__ import annotations

from pathlib import Path

from edge_export.report.dashboard.html import esc as _esc, fig_html

BENCH_SCHEMA = "edge-export-bench/1"
BENCH_NAME = "bench.json"


def _f(v, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def _table(bench: dict) -> str:
    head = ("<tr><th>model</th><th>threads</th><th>contestant</th><th>median ms</th><th>min ms</th><th>× eager</th>"
            "<th>× ORT</th><th>× best</th><th>GFLOP/s</th><th>% GEMM peak</th><th>MB</th></tr>")
    body = []
    for r in bench.get("rows", []):
        if "median_ms" not in r:
            body.append(f"<tr><td>{_esc(r['model'])}</td><td class='num'>{r['threads']}</td><td>{_esc(r['contestant'])}</td>"
                        f"<td colspan='8' class='bad'>failed: {_esc(r.get('error', ''))}</td></tr>")
            continue
        name = f"<b>{_esc(r['contestant'])}</b>" if r.get("best") else _esc(r["contestant"])
        mb = _f(r["file_bytes"] / 1e6) if r.get("file_bytes") else "–"
        body.append(
            f"<tr><td>{_esc(r['model'])}</td><td class='num'>{r['threads']}</td><td>{name}</td>"
            f"<td class='num'>{r['median_ms']:.2f}</td><td class='num'>{r['min_ms']:.2f}</td>"
            f"<td class='num'>{_f(r.get('x_eager'))}</td><td class='num'>{_f(r.get('x_ort'))}</td>"
            f"<td class='num'>{_f(r.get('x_best'))}</td><td class='num'>{_f(r.get('gflops'), '.1f')}</td>"
            f"<td class='num'>{_f(r.get('pct_of_peak'), '.0f')}</td><td class='num'>{mb}</td></tr>")
    return f"<table id='bench-table'>{head}{''.join(body)}</table>"


def _goals(bench: dict) -> str:
    goals = bench.get("goals") or []
    if not goals:
        return ""
    rows = []
    for g in goals:
        holds = {True: "<span class='ok'>yes</span>", False: "<span class='bad'>no</span>", None: "n/a"}[g["holds"]]
        v = _f(g["value"]) if isinstance(g["value"], (int, float)) else "–"
        detail = f" <span class='small'>({_esc(g['detail'])})</span>" if g.get("detail") else ""
        rows.append(f"<tr><td>{_esc(g['goal'])}{detail}</td><td class='num'>{v}</td><td>{_esc(g['limit'])}</td><td>{holds}</td></tr>")
    return ("<h3>Goals</h3><table id='bench-goals'><tr><th>goal</th><th>value</th><th>limit</th><th>holds</th></tr>"
            + "".join(rows) + "</table>")


def _figures(bench: dict, prefix: str) -> tuple[str, list[str]]:
    """Per thread count: median latency per model and contestant (grouped bars), and % of the GEMM peak."""
    import plotly.graph_objects as go

    ok = [r for r in bench.get("rows", []) if "median_ms" in r]
    parts, ids = [], []
    for t in sorted({r["threads"] for r in ok}):
        rs = [r for r in ok if r["threads"] == t]
        models = list(dict.fromkeys(r["model"] for r in rs))
        contestants = list(dict.fromkeys(r["contestant"] for r in rs))
        fig = go.Figure()
        for c in contestants:
            by_model = {r["model"]: r for r in rs if r["contestant"] == c}
            fig.add_bar(name=c, x=models, y=[by_model[m]["median_ms"] if m in by_model else None for m in models],
                        customdata=[[by_model[m]["min_ms"], by_model[m].get("x_best")] if m in by_model else [None, None]
                                    for m in models],
                        hovertemplate=f"{c}<br>%{{x}}: median %{{y:.2f}} ms, min %{{customdata[0]:.2f}} ms, "
                                      "× best %{customdata[1]:.2f}<extra></extra>")
        fig.update_layout(barmode="group", height=380, margin=dict(l=60, r=20, t=40, b=40),
                          title=f"Median latency, batch 1, {t} thread{'s' if t != 1 else ''} (lower is better)",
                          yaxis_title="ms (log)", yaxis_type="log", legend=dict(orientation="h", y=-0.15))
        fid = f"{prefix}-latency-{t}"
        parts.append(fig_html(fig, fid))
        ids.append(fid)
        peak = (bench.get("gemm_peak") or {}).get(str(t))
        arts = [r for r in rs if r.get("pct_of_peak") is not None]
        if peak and arts:
            fig = go.Figure()
            for c in contestants:
                by_model = {r["model"]: r for r in arts if r["contestant"] == c}
                if by_model:
                    fig.add_bar(name=c, x=models, y=[by_model[m]["pct_of_peak"] if m in by_model else None for m in models],
                                hovertemplate=f"{c}<br>%{{x}}: %{{y:.0f}} % of the GEMM peak<extra></extra>")
            fig.add_hline(y=100, line_dash="dot", annotation_text=f"GEMM peak {peak['gflops_median']:.0f} GFLOP/s")
            fig.update_layout(barmode="group", height=340, margin=dict(l=60, r=20, t=40, b=40),
                              title=f"Achieved GFLOP/s as % of the measured fp32 GEMM peak, {t} thread{'s' if t != 1 else ''}",
                              yaxis_title="% of peak", legend=dict(orientation="h", y=-0.18))
            fid = f"{prefix}-peak-{t}"
            parts.append(fig_html(fig, fid))
            ids.append(fid)
    return "".join(parts), ids


def bench_section(benches: list[tuple[Path, dict]]) -> tuple[str, list[str]]:
    """HTML for every bench.json found, and the ids of its plotly figures."""
    if not benches:
        return ("<p class='note'>No benchmark results (run <code>make bench</code>: it writes "
                "<code>OUT/bench/bench.json</code>, which the dashboard of OUT shows here).</p>"), []
    out, ids = [], []
    for i, (path, b) in enumerate(benches, 1):
        h, load, cfg = b.get("host", {}), b.get("load", {}), b.get("config", {})
        peak = "; ".join(f"{t} thread(s) {p['gflops_median']:.1f} GFLOP/s median" for t, p in (b.get("gemm_peak") or {}).items())
        figs, fig_ids = _figures(b, f"bench{i}")
        ids += fig_ids
        notes = "".join(f"<li>{_esc(n)}</li>" for n in b.get("notes", []))
        kernel = (f"<h3>Kernel check (benchmarks/igemm_kernel.py)</h3><pre class='small'>{_esc(b['kernel_check_md'])}</pre>"
                  if b.get("kernel_check_md") else "")
        out.append(
            f"<div class='figwrap' id='bench{i}'><p class='small'>From <code>{_esc(path)}</code>, {_esc(b.get('created_at', ''))} on "
            f"{_esc(h.get('cpu_model', '?'))} ({_esc(h.get('logical_cpus', '?'))} CPUs, {_esc(h.get('cpu_flags', ''))}); "
            f"{_esc(cfg.get('rounds'))} interleaved rounds × {_esc(cfg.get('per_round'))} runs, one process per contestant; "
            f"load average during rounds median {_f(load.get('rounds_median'))}. Fp32 GEMM peak: {_esc(peak or 'not measured')}. "
            "Ratios are from this one run; differences under ~10 % are noise on a shared machine.</p>"
            f"{figs}{_table(b)}{_goals(b)}{kernel}<ul class='small'>{notes}</ul></div>")
    return "".join(out), ids
