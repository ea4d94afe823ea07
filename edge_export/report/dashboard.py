"""One self-contained HTML report from profiles and artifact manifests (`edge-export dashboard`).

Inputs are profile JSON files and/or artifact directories (a directory holding `manifest.json`, whose
profiles are any `*.json` beside it or under `profiles/` that is a profile), or a directory of
artifact directories (e.g. `artifacts/`). The page embeds plotly.js, so it opens offline and fetches
nothing.

Every number carries its source: profiles are cited as P1, P2, ... and artifact manifests as A1,
A2, ..., each with a provenance entry (where it ran, device / host CPU, runtime and versions, date).
Numbers from simulators (provenance.simulator) are marked "SIMULATOR — not device latency" wherever
they appear.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from edge_export.artifacts import MANIFEST_NAME, Manifest, read_manifest
from edge_export.errors import EdgeExportError
from edge_export.report.bench_view import bench_files_in, bench_section, is_bench_file
from edge_export.profile.rollup import LEVELS, UNATTRIBUTED, ModuleTree, kind_totals, rollup
from edge_export.profile.schema import WHOLE_MODEL, Profile, ProfileError, load_profile

EAGER_RUNTIMES = ("pytorch-eager",)
SIM_MARK = "SIMULATOR — not device latency"
LAYER_TOP = 40  # bars shown at the "layer" level (the rest are summed into one bar)
DEFAULT_LEVEL = "block"


# ----------------------------------------------------------------------------------------------
# inputs


@dataclass
class ArtifactEntry:
    dir: Path
    manifest: Manifest
    aid: str = ""


@dataclass
class ProfileEntry:
    path: Path
    profile: Profile
    artifact: ArtifactEntry | None = None
    pid: str = ""
    label: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def prov(self):
        return self.profile.provenance

    @property
    def simulated(self) -> bool:
        return bool(self.profile.provenance.simulator)

    @property
    def is_eager(self) -> bool:
        p = self.profile.provenance
        return p.runtime in EAGER_RUNTIMES or p.target == "eager"


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


def _load(path: Path) -> Profile:
    try:
        return load_profile(path)
    except ProfileError as e:
        raise EdgeExportError(_one_line(f"{e} (re-collect it with this edge-export's `profile`)")) from None


def _looks_like_profile(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and ("provenance" in data or "latency_ms" in data)


class _Collector:
    def __init__(self) -> None:
        self.artifacts: dict[Path, ArtifactEntry] = {}
        self.profiles: dict[Path, ProfileEntry] = {}
        self.benches: dict[Path, dict] = {}  # benchmarks/suite.py results (bench.json)

    def add_bench(self, path: Path) -> None:
        self.benches.setdefault(path.resolve(), (path, json.loads(path.read_text())))

    def add_profile(self, path: Path, artifact: ArtifactEntry | None) -> ProfileEntry:
        key = path.resolve()
        if key in self.profiles:
            e = self.profiles[key]
            if e.artifact is None:
                e.artifact = artifact
            return e
        e = self.profiles[key] = ProfileEntry(path=path, profile=_load(path), artifact=artifact)
        return e

    def add_artifact(self, d: Path) -> ArtifactEntry:
        key = d.resolve()
        if key not in self.artifacts:
            self.artifacts[key] = ArtifactEntry(dir=d, manifest=read_manifest(d))
        art = self.artifacts[key]
        for p in _profile_files(d):
            self.add_profile(p, art)
        return art

    def add_input(self, path: Path) -> None:
        path = Path(path)
        if not path.exists():
            raise EdgeExportError(f"{path} does not exist: give profile JSON files or artifact directories")
        if path.is_file():
            if path.name == MANIFEST_NAME:
                self.add_artifact(path.parent)
            elif is_bench_file(path):
                self.add_bench(path)
            else:
                self.add_profile(path, None)
            return
        if (path / MANIFEST_NAME).is_file():
            self.add_artifact(path)
            return
        # a directory of artifact directories (and/or loose profiles, benchmark results)
        for b in bench_files_in(path):
            self.add_bench(b)
        for sub in sorted(path.iterdir()):
            if sub.name.startswith("."):
                continue
            if sub.is_dir() and (sub / MANIFEST_NAME).is_file():
                self.add_artifact(sub)
        for p in _profile_files(path):
            self.add_profile(p, None)


def _profile_files(d: Path) -> list[Path]:
    out = []
    for folder in (d, d / "profiles"):
        if folder.is_dir():
            for p in sorted(folder.glob("*.json")):
                if p.name != MANIFEST_NAME and not p.name.startswith(".") and _looks_like_profile(p):
                    out.append(p)
    return out


def collect(inputs: Sequence[Path], eager_profile: Path | Profile | None = None):
    """(artifacts, profiles, eager, benches) from the inputs; raises EdgeExportError on unusable input.
    benches: [(path, bench.json content)] of benchmark-suite results found among the inputs."""
    if not inputs:
        raise EdgeExportError("no inputs: give profile JSON files and/or artifact directories")
    c = _Collector()
    for p in inputs:
        c.add_input(Path(p))
    eager: ProfileEntry | None = None
    if eager_profile is not None:
        if isinstance(eager_profile, Profile):
            eager = ProfileEntry(path=Path("<eager>"), profile=eager_profile)
            c.profiles[Path(f"<eager-{id(eager_profile)}>")] = eager
        else:
            eager = c.add_profile(Path(eager_profile), None)
    artifacts = list(c.artifacts.values())
    profiles = list(c.profiles.values())
    benches = list(c.benches.values())
    if not artifacts and not profiles and not benches:
        names = ", ".join(str(p) for p in inputs)
        raise EdgeExportError(
            f"no profiles or artifact manifests found in {names}: give profile JSON files or directories written by `edge-export export`"
        )
    # associate loose profiles with an artifact by program hash; flag stale ones
    by_sha = {a.manifest.file_sha256: a for a in artifacts}
    for e in profiles:
        if e.is_eager:
            e.artifact = None  # an eager run measures the PyTorch model, not the program beside it
        elif e.artifact is None:
            e.artifact = by_sha.get(e.prov.artifact_sha256)
        if e.artifact is not None and e.prov.artifact_sha256 != e.artifact.manifest.file_sha256:
            e.warnings.append(
                f"profiled program sha256 {e.prov.artifact_sha256[:12]}… is not this artifact's "
                f"{e.artifact.manifest.file_sha256[:12]}…: the profile is stale (re-profile the artifact)"
            )
        if not e.profile.complete:
            e.warnings.append("collection stopped early (complete=false): fewer runs than asked")
    # order: by model, eager first, then artifacts in input order
    art_order = {id(a): i for i, a in enumerate(artifacts)}
    profiles.sort(key=lambda e: (e.prov.model_id, not e.is_eager, art_order.get(id(e.artifact), len(artifacts))))
    for i, a in enumerate(artifacts, 1):
        a.aid = f"A{i}"
    for i, e in enumerate(profiles, 1):
        e.pid = f"P{i}"
    _label(profiles)
    return artifacts, profiles, eager, benches


def _where_short(prov) -> str:
    d = prov.device
    if prov.where == "host":
        return "host"
    name = d.get("model") or d.get("soc") or prov.where
    return name


def _label(profiles: list[ProfileEntry]) -> None:
    models = {e.prov.model_id for e in profiles}
    base = {}
    for e in profiles:
        b = f"{e.prov.target} @ {_where_short(e.prov)}"
        if len(models) > 1:
            b = f"{e.prov.model_id}: {b}"
        base[e.pid] = b
    counts: dict[str, int] = {}
    for b in base.values():
        counts[b] = counts.get(b, 0) + 1
    for e in profiles:
        b = base[e.pid]
        if counts[b] > 1:
            b += f" ×{e.prov.threads}t"
        e.label = f"{b} [{e.pid}]" + (" ⚠SIM" if e.simulated else "")


def eager_baseline(e: ProfileEntry, profiles: list[ProfileEntry], explicit: ProfileEntry | None):
    """(baseline entry or None, reason when None). Ratios only compare runs at the same place."""
    if e.is_eager:
        return None, "is the eager baseline"
    if e.simulated:
        return None, "simulator time: no ratio"
    cands = [explicit] if explicit is not None else [p for p in profiles if p.is_eager and p.prov.model_id == e.prov.model_id]
    if not cands:
        return None, "no eager profile given"
    same_place = [p for p in cands if p.prov.where == e.prov.where]
    if not same_place:
        return None, f"eager ran on {cands[0].prov.where}, this on {e.prov.where}"
    same_threads = [p for p in same_place if p.prov.threads == e.prov.threads]
    return (same_threads or same_place)[0], ""


# ----------------------------------------------------------------------------------------------
# formatting helpers


def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _cite(e) -> str:
    pid = e.aid if isinstance(e, ArtifactEntry) else e.pid
    return f'<a class="cite" href="#prov-{pid}">[{pid}]</a>'


def _sim_badge() -> str:
    return f'<span class="badge sim">{_esc(SIM_MARK)}</span>'


def _where_long(prov) -> str:
    d = prov.device
    if prov.where == "host":
        cpu = d.get("cpu_model") or d.get("cpu") or "unknown CPU"
        return f"host · {cpu}"
    bits = [d.get(k) for k in ("model", "soc", "android_version") if d.get(k)]
    return " · ".join([prov.where] + bits)


# ----------------------------------------------------------------------------------------------
# sections


def _overview(artifacts, profiles, eager_explicit) -> str:
    rows = []
    shown_arts = set()
    for e in profiles:
        rows.append((e.artifact, e))
        if e.artifact is not None:
            shown_arts.add(id(e.artifact))
    for a in artifacts:
        if id(a) not in shown_arts:
            rows.append((a, None))
    head = (
        "<tr><th>model</th><th>target</th><th>runtime</th><th>size</th><th>export</th>"
        "<th>delegation</th><th>parity vs PyTorch</th><th>median latency</th><th>vs eager</th>"
        "<th>where it ran</th></tr>"
    )
    body = []
    for a, e in rows:
        m = a.manifest if a else None
        prov = e.prov if e else None
        model = m.model_id if m else prov.model_id
        target = (m.target if m else prov.target) + (" " + _cite(a) if a else "")
        runtime = prov.runtime if prov else m.runtime
        if prov and prov.runtime_version:
            runtime += f" {prov.runtime_version}"
        size = f"{m.file_bytes / 1e6:.2f} MB" if m else "—"
        export = f"{m.export_seconds:.1f} s" if m else "—"
        deleg = "—"
        if m and m.delegation:
            d = m.delegation
            tot = d.delegated_nodes + d.fallback_nodes
            cov = 100.0 * d.delegated_nodes / tot if tot else 0.0
            fb = ", ".join(f"{_esc(k)}×{v}" for k, v in sorted(d.fallback_ops.items(), key=lambda kv: -kv[1])[:4])
            deleg = (
                f"{_esc(d.backend)}: <b>{cov:.1f}%</b> of nodes delegated ({d.delegated_nodes}/{tot}) "
                f"in {d.subgraphs} subgraph{'s' if d.subgraphs != 1 else ''}"
                + (f"<br><span class='small'>fallback: {fb}</span>" if fb else "")
            )
        elif m:
            deleg = "no delegate (portable ops)"
        parity = "—"
        if m and m.parity:
            p = m.parity
            ok = '<span class="ok">pass</span>' if p.passed else '<span class="bad">FAIL</span>'
            parity = (
                f"cosine min {p.cosine_min:.5f}<br>top-1 {100 * p.top1_agree:.1f}% of {p.images} images {ok}"
            )
        lat = "not profiled"
        ratio = "—"
        if e:
            s = e.profile.latency
            lat = f"<b>{fmt_ms(s.median)} ms</b> <span class='small'>p10–p90 {fmt_ms(s.p10)}–{fmt_ms(s.p90)}, n={s.n}</span> {_cite(e)}"
            if e.simulated:
                lat += "<br>" + _sim_badge()
            if not e.profile.complete:
                lat += ' <span class="badge warn">INCOMPLETE</span>'
            base, why = eager_baseline(e, profiles, eager_explicit)
            if base is not None and base.profile.latency.median > 0:
                r = s.median / base.profile.latency.median
                ratio = (
                    f"<b>{r:.2f}×</b> <span class='small' title='median / eager median, same place'>"
                    f"of {fmt_ms(base.profile.latency.median)} ms</span> {_cite(base)}"
                )
            else:
                ratio = f"<span class='small'>{_esc(why)}</span>"
        where = "—"
        if prov:
            where = f"{_esc(_where_long(prov))}<br><span class='small'>{prov.threads} thread{'s' if prov.threads != 1 else ''} · {_esc(prov.collector)}</span>"
        cls = ' class="simrow"' if e and e.simulated else ""
        body.append(
            f"<tr{cls}><td>{_esc(model)}</td><td>{target}</td><td>{_esc(runtime)}</td><td class='num'>{size}</td>"
            f"<td class='num'>{export}</td><td>{deleg}</td><td>{parity}</td><td>{lat}</td><td>{ratio}</td><td>{where}</td></tr>"
        )
    return f'<table class="overview" id="overview">{head}{"".join(body)}</table>'


def _fig_html(fig, div_id: str) -> str:
    import plotly.io as pio

    return pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config={"responsive": True, "displaylogo": False},
        default_height=f"{fig.layout.height or 450}px",
    )


PCT_TITLE = "% of that backend's op time"
MS_TITLE = "ms (sum of per-op medians)"


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


def _layer_figures(profiles: list[ProfileEntry]) -> tuple[str, list[str], str]:
    """(html for the level switch + figures, figure ids, top-layers table)."""
    import plotly.graph_objects as go

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
        fid = f"fig-layers-{lv}"
        ids.append(fid)
        style = "" if lv == DEFAULT_LEVEL else ' style="display:none"'
        title = f"Latency by module — {lv} level" + (
            f" (the {LAYER_TOP} most expensive first)" if lv == "layer" else " (model order, top to bottom)"
        )
        parts.append(
            f'<div class="figwrap" data-level-fig="{lv}" data-unit-group="layers"{style}>'
            f"<h3>{_esc(title)}</h3>{_fig_html(fig, fid)}</div>"
        )
    attributed = " · ".join(
        f"{_esc(e.label)}: {100 * e.profile.attributed_fraction():.0f}% of op time attributed"
        for e in with_rows
    )
    intro = (
        f'<div class="levels">depth: {buttons} <span class="sep"></span> unit: {_unit_buttons("layers", unit)}</div>'
        f"<p class='small'>Sum of per-op medians by PyTorch module; stage = an element of the stage list "
        f"(<code>network.N</code>), block = an element of a stage's block list, layer = the leaf module an op "
        f"was attributed to. {attributed}.</p>"
    )
    return intro + "".join(parts), ids, _top_layers(with_rows, tree)


def _top_layers(with_rows, tree, n: int = 5) -> str:
    cols = []
    for e in with_rows:
        mods = rollup(e.profile.rows, "layer", tree)
        total = sum(m.ms for m in mods) or 1.0
        top = sorted(mods, key=lambda m: -m.ms)[:n]
        items = "".join(
            f"<li><code>{_esc(m.key)}</code> {fmt_ms(m.ms)} ms ({100 * m.ms / total:.1f}%)</li>" for m in top
        )
        sim = "<br>" + _sim_badge() if e.simulated else ""
        cols.append(f"<div class='topcol'><b>{_esc(e.label)}</b>{sim}<ol>{items}</ol></div>")
    return f"<h3>Top {n} layers per backend</h3><div class='topgrid' id='top-layers'>{''.join(cols)}</div>"


def _kinds_figure(profiles) -> tuple[str, list[str]]:
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
        f'<div class="figwrap" data-unit-group="kinds"><h3>Op time by kind, per backend</h3>{_fig_html(fig, "fig-kinds")}</div>'
    ), ["fig-kinds"]


def _distribution_figure(profiles) -> tuple[str, list[str]]:
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
        f"dashed line = mean, dots = runs)</h3>{_fig_html(fig, 'fig-latency')}</div>"
    ), ["fig-latency"]


def _gap_figure(profiles) -> tuple[str, list[str]]:
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
        f"{_fig_html(fig, 'fig-gap')}</div>"
    ), ["fig-gap"]


def _kv_table(items) -> str:
    return "<table class='kv'>" + "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in items) + "</table>"


def _provenance(artifacts, profiles) -> str:
    out = []
    for e in profiles:
        p = e.prov
        items = [
            ("file", f"<code>{_esc(e.path)}</code>"),
            ("where", _esc(p.where) + (" " + _sim_badge() if p.simulator else "")),
            ("device / host", _esc(", ".join(f"{k}={v}" for k, v in p.device.items()) or "—")),
            ("runtime", _esc(f"{p.runtime} {p.runtime_version or ''}".strip())),
            ("collector", _esc(p.collector)),
            ("model / target", _esc(f"{p.model_id} / {p.target}")),
            ("program sha256", f"<code>{_esc(p.artifact_sha256)}</code>"),
            ("threads · runs · warmup", f"{p.threads} · {p.runs} · {p.warmup}"),
            ("collected at", _esc(p.collected_at)),
        ]
        if p.options:
            items.append(("options", _esc(", ".join(f"{k}={v}" for k, v in p.options.items()))))
        extra = [
            (k, f"{v:.2f}" + u)
            for k, v, u in (
                ("load", e.profile.load_ms, " ms"),
                ("first run", e.profile.first_run_ms, " ms"),
                ("peak RSS", e.profile.peak_rss_mb, " MB"),
            )
            if v is not None
        ]
        items += extra
        if e.profile.rows:
            items.append(
                ("op rows", f"{len(e.profile.rows)} ops, sum of medians {fmt_ms(e.profile.op_total_ms())} ms "
                 f"(whole-model median {fmt_ms(e.profile.latency.median)} ms)")
            )
        if e.artifact is not None:
            items.append(("artifact", _cite(e.artifact)))
        notes = list(e.profile.notes) + e.warnings
        if notes:
            items.append(("notes", "<br>".join(_esc(n) for n in notes)))
        out.append(f"<div class='prov' id='prov-{e.pid}'><h3>{e.pid} · {_esc(e.label)}</h3>{_kv_table(items)}</div>")
    for a in artifacts:
        m = a.manifest
        items = [
            ("directory", f"<code>{_esc(a.dir)}</code>"),
            ("model / target / runtime", _esc(f"{m.model_id} / {m.target} / {m.runtime}")),
            ("program", f"<code>{_esc(m.program_file)}</code> {m.file_bytes:,} bytes, sha256 <code>{_esc(m.file_sha256)}</code>"),
            ("source", _esc(f"{m.source.kind} {m.source.model_id}" + (f" ({m.source.attention_form} attention)" if m.source.attention_form else ""))),
            ("exported", _esc(f"{m.created_at} in {m.export_seconds:.1f} s on the exporting host")),
            ("package versions", _esc(", ".join(f"{k} {v}" for k, v in sorted(m.package_versions.items())))),
            ("params · FLOPs", f"{m.params:,} · {m.flops:,}" if m.flops else f"{m.params:,}"),
        ]
        if m.rewrites:
            items.append(("rewrites", _esc(", ".join(m.rewrites))))
        if m.parity:
            p = m.parity
            items.append(
                ("parity", _esc(
                    f"{p.images} images from {p.image_source}, {p.threads} threads, vs {p.reference}; cosine min "
                    f"{p.cosine_min:.6f} mean {p.cosine_mean:.6f}, max |Δ| {p.max_abs:.3g}, rel L2 {p.rel_l2:.3g}, "
                    f"top-1 {100 * p.top1_agree:.1f}%, top-5 overlap {100 * p.top5_overlap:.1f}%; measured {p.measured_at}"
                ))
            )
        if m.delegation:
            d = m.delegation
            for name, ops in (("delegated ops", d.delegated_ops), ("fallback ops", d.fallback_ops)):
                if ops:
                    items.append((name, _esc(", ".join(f"{k}×{v}" for k, v in sorted(ops.items(), key=lambda kv: -kv[1])))))
        if m.notes:
            items.append(("notes", "<br>".join(_esc(n) for n in m.notes)))
        out.append(f"<div class='prov' id='prov-{a.aid}'><h3>{a.aid} · artifact {_esc(m.model_id)} / {_esc(m.target)}</h3>{_kv_table(items)}</div>")
    return f"<div class='provgrid'>{''.join(out)}</div>"


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1500px;padding:16px 24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d9dee7;padding-bottom:4px}h3{font-size:15px;margin:14px 0 6px}
.small{font-size:12px;color:#5a6272}.note{color:#5a6272;font-style:italic}code{font-size:12px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #d9dee7;padding:5px 7px;vertical-align:top;text-align:left}
th{background:#f3f5f9}td.num{text-align:right;white-space:nowrap}tr.simrow td{background:#fff6f4}
.badge{display:inline-block;font-size:11px;font-weight:600;border-radius:3px;padding:1px 5px;margin-top:2px}
.sim{background:#c62828;color:#fff}.warn{background:#f9a825;color:#222}
.banner{background:#fdecea;border:1px solid #c62828;color:#8e1b1b;padding:8px 12px;border-radius:4px;margin:10px 0}
.warnings{background:#fff8e1;border:1px solid #f9a825;padding:6px 12px;border-radius:4px;font-size:13px}
.ok{color:#1b7f3a;font-weight:600}.bad{color:#c62828;font-weight:700}a.cite{font-size:11px;text-decoration:none;color:#3557b7}
.levels{margin:8px 0}button.lvl{font:inherit;font-size:13px;padding:3px 12px;margin-right:4px;border:1px solid #9aa6bd;background:#fff;border-radius:3px;cursor:pointer}
span.sep{display:inline-block;width:18px}button.lvl.active{background:#3557b7;color:#fff;border-color:#3557b7}
.topgrid{display:flex;flex-wrap:wrap;gap:12px}.topcol{border:1px solid #d9dee7;border-radius:4px;padding:6px 10px;font-size:13px;min-width:320px;flex:1}
.topcol ol{margin:6px 0 0 18px;padding:0}.topcol code{overflow-wrap:anywhere}.provgrid{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:14px}.prov{min-width:0}.kv{width:100%}.kv th{width:150px}
.kv td{overflow-wrap:anywhere}.figwrap{margin:6px 0 18px}
"""

_JS = """
function showLevel(level){
  document.querySelectorAll('[data-level-fig]').forEach(function(d){
    var on = d.getAttribute('data-level-fig') === level;
    d.style.display = on ? '' : 'none';
    if (on) { var g = d.querySelector('.js-plotly-plot'); if (g && window.Plotly) { Plotly.Plots.resize(g); } }
  });
  document.querySelectorAll('[data-level-btn]').forEach(function(b){
    b.classList.toggle('active', b.getAttribute('data-level-btn') === level);
  });
}
function setUnit(group, unit){
  document.querySelectorAll('[data-unit-group="' + group + '"] .js-plotly-plot').forEach(function(gd){
    var xs = gd.data.map(function(t){ return t.customdata.map(function(c){ return unit === 'pct' ? c[0] : c[1]; }); });
    Plotly.update(gd, {x: xs}, {'xaxis.title.text': unit === 'pct' ? PCT_TITLE : MS_TITLE});
  });
  document.querySelectorAll('[data-unit-btn^="' + group + ':"]').forEach(function(b){
    b.classList.toggle('active', b.getAttribute('data-unit-btn') === group + ':' + unit);
  });
}
"""


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
    layers, layer_ids, top = _layer_figures(profiles)
    kinds, kind_ids = _kinds_figure(profiles)
    dist, dist_ids = _distribution_figure(profiles)
    gap, gap_ids = _gap_figure(profiles)
    bench, bench_ids = bench_section(list(benches), _fig_html)
    fig_ids = layer_ids + kind_ids + dist_ids + gap_ids + bench_ids
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sims = [e for e in profiles if e.simulated]
    banner = ""
    if sims:
        banner = (
            f"<div class='banner' id='sim-banner'><b>{_esc(SIM_MARK)}:</b> "
            + ", ".join(f'<a href="#prov-{e.pid}">{_esc(e.label)}</a>' for e in sims)
            + " were timed in a simulator. Their per-run and per-op times show relative cost only, "
            "not how fast a device runs the model; no ratio to eager is given for them.</div>"
        )
    warns = [f"{_cite(e)} {_esc(w)}" for e in profiles for w in e.warnings]
    warn_html = f"<div class='warnings'><b>Warnings</b><ul>{''.join(f'<li>{w}</li>' for w in warns)}</ul></div>" if warns else ""
    models = sorted({e.prov.model_id for e in profiles} | {a.manifest.model_id for a in artifacts})
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="edge-export-figures" content="{len(fig_ids)}">
<title>edge-export report — {_esc(", ".join(models))}</title>
<style>{_CSS}</style>
<script type="text/javascript">window.PlotlyConfig = {{MathJaxConfig: 'local'}};</script>
<script type="text/javascript">{get_plotlyjs()}</script>
<script type="text/javascript">var PCT_TITLE = {json.dumps(PCT_TITLE)}, MS_TITLE = {json.dumps(MS_TITLE)};{_JS}</script>
</head><body>
<h1>edge-export report — {_esc(", ".join(models))}</h1>
<p class="small">Generated {now} by edge-export {_esc(ee_version)} (plotly {_esc(plotly.__version__)}) from
{len(profiles)} profile{'s' if len(profiles) != 1 else ''} and {len(artifacts)} artifact manifest{'s' if len(artifacts) != 1 else ''}.
Every number cites its source: P = profile, A = artifact manifest (see <a href="#provenance">Provenance</a>).
Latencies are medians over measured runs; op and module times are sums of per-op medians.</p>
{banner}{warn_html}
<h2>Artifacts</h2>
{_overview(artifacts, profiles, eager_explicit)}
<h2>Per-layer latency</h2>
{layers}
{top}
<h2>Op kinds</h2>
{kinds}
<h2>Latency distribution</h2>
{dist}
<h2>Numeric gap per layer</h2>
{gap}
<h2 id="benchmark">Benchmark: runtimes, peers and the compute floor</h2>
{bench}
<h2 id="provenance">Provenance</h2>
{_provenance(artifacts, profiles)}
</body></html>
"""
    return doc, fig_ids


def _write_text_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise EdgeExportError(f"cannot write the report to {path}: {e.strerror} (choose another --out)") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def build_dashboard(inputs: Sequence[Path], out: Path, eager_profile: Path | Profile | None = None) -> Path:
    """Write the report for `inputs` (profile JSONs and/or artifact dirs) to `out`; return its path."""
    out = Path(out)
    if out.is_dir():
        raise EdgeExportError(f"--out {out} is a directory: give a file name such as {out / 'report.html'}")
    artifacts, profiles, eager, benches = collect([Path(p) for p in inputs], eager_profile)
    doc, _ = render(artifacts, profiles, eager, benches)
    _write_text_atomic(out, doc)
    return out
