"""The whole report page: every section in order with plotly.js and the page's CSS/JS (static/) inlined,
so it opens offline; written atomically to the file the user named."""

from __future__ import annotations

import datetime as _dt
import json
from importlib import resources
from pathlib import Path
from typing import Sequence

from edge_export.artifacts import write_text_atomic
from edge_export.errors import EdgeExportError
from edge_export.profile.schema import Profile
from edge_export.report.dashboard import figures, sections
from edge_export.report.dashboard.accuracy import accuracy_section
from edge_export.report.dashboard.bench import BENCH_SCHEMA, bench_section
from edge_export.report.dashboard.coverage import COVERAGE_SCHEMA, coverage_section
from edge_export.report.dashboard.html import MS_TITLE, PCT_TITLE, SIM_MARK, cite, esc
from edge_export.report.dashboard.inputs import collect
from edge_export.report.dashboard.layers import layers_section
from edge_export.report.dashboard.verdict import verdict


def _static(name: str) -> str:
    return resources.files("edge_export.report.dashboard").joinpath("static", name).read_text(encoding="utf-8")


def render(artifacts, profiles, eager_explicit, benches=()) -> tuple[str, list[str]]:
    """(html, ids of every plotly figure in it)."""
    try:
        import plotly
        from plotly.offline import get_plotlyjs
    except ImportError:  # pragma: no cover - plotly is a declared extra
        raise EdgeExportError("plotly is not installed: pip install 'edge-export[dashboard]'") from None
    try:
        from importlib.metadata import version

        ee_version = version("edge-export")
    except Exception:  # noqa: BLE001 - best effort only
        ee_version = "unknown"
    layers, layer_ids = layers_section(profiles)
    kinds, kind_ids = figures.kinds_figure(profiles)
    dist, dist_ids = figures.distribution_figure(profiles)
    gap, gap_ids = figures.gap_figure(profiles)
    accuracy, accuracy_ids = accuracy_section(artifacts, profiles)
    bench, bench_ids = bench_section([b for b in benches if b[1].get("schema") == BENCH_SCHEMA])
    cover, cover_ids = coverage_section([b for b in benches if b[1].get("schema") == COVERAGE_SCHEMA])
    fig_ids = accuracy_ids + layer_ids + kind_ids + dist_ids + gap_ids + bench_ids + cover_ids
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sims = [e for e in profiles if e.simulated]
    banner = ""
    if sims:
        banner = (
            f"<div class='banner' id='sim-banner'><b>{esc(SIM_MARK)}:</b> "
            + ", ".join(f'<a href="#prov-{e.pid}">{esc(e.label)}</a>' for e in sims)
            + " were timed in a simulator. Their per-run and per-op times show relative cost only, "
            "not how fast a device runs the model; no ratio to eager is given for them.</div>"
        )
    warns = [f"{cite(e)} {esc(w)}" for e in profiles for w in e.warnings]
    warn_html = f"<div class='warnings'><b>Warnings</b><ul>{''.join(f'<li>{w}</li>' for w in warns)}</ul></div>" if warns else ""
    models = sorted({e.prov.model_id for e in profiles} | {a.manifest.model_id for a in artifacts})
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="edge-export-figures" content="{len(fig_ids)}">
<title>edge-export report — {esc(", ".join(models))}</title>
<style>{_static('dashboard.css')}</style>
<script type="text/javascript">window.PlotlyConfig = {{MathJaxConfig: 'local'}};</script>
<script type="text/javascript">{get_plotlyjs()}</script>
<script type="text/javascript">var PCT_TITLE = {json.dumps(PCT_TITLE)}, MS_TITLE = {json.dumps(MS_TITLE)};{_static('dashboard.js')}{_static('layers.js')}</script>
</head><body>
<h1>edge-export report — {esc(", ".join(models))}</h1>
{verdict(artifacts, profiles, eager_explicit)}
<p class="small">Generated {now} by edge-export {esc(ee_version)} (plotly {esc(plotly.__version__)}) from
{len(profiles)} profile{'s' if len(profiles) != 1 else ''} and {len(artifacts)} artifact manifest{'s' if len(artifacts) != 1 else ''}.
Every number cites its source: P = profile, A = artifact manifest (see <a href="#provenance">Provenance</a>).
Latencies are medians over measured runs; op and module times are sums of per-op medians.</p>
{banner}{warn_html}
<h2>Artifacts</h2>
{sections.overview(artifacts, profiles, eager_explicit)}
<h2 id="accuracy">Accuracy on your images</h2>
{accuracy}
<h2 id="layers">Per-layer latency</h2>
{layers}
<h2>Op kinds</h2>
{kinds}
<h2>Latency distribution</h2>
{dist}
<h2>Numeric gap per layer</h2>
{gap}
<h2 id="benchmark">Benchmark: runtimes, peers and the compute floor</h2>
{bench}
<h2 id="coverage">Coverage: models × targets</h2>
{cover}
<h2 id="provenance">Provenance</h2>
{sections.provenance(artifacts, profiles)}
</body></html>
"""
    return doc, fig_ids


def build_dashboard(inputs: Sequence[Path], out: Path, eager_profile: Path | Profile | None = None) -> Path:
    """Write the report for `inputs` (profile JSONs and/or artifact dirs) to `out`; return its path."""
    out = Path(out)
    if out.is_dir():
        raise EdgeExportError(f"--out {out} is a directory: give a file name such as {out / 'report.html'}")
    artifacts, profiles, eager, benches = collect([Path(p) for p in inputs], eager_profile)
    doc, _ = render(artifacts, profiles, eager, benches)
    try:
        write_text_atomic(out, doc)
    except OSError as e:
        raise EdgeExportError(f"cannot write the report to {out}: {e.strerror} (choose another --out)") from None
    return out
