"""The one-line verdict per model at the top of the page: the fastest measured artifact at each place it was
timed, its ratio to eager and to the fp32 artifact of the same runtime, its fidelity and its size. Only what the
profiles and manifests hold; a missing number is named as missing, never filled in."""

from __future__ import annotations

from edge_export.report.dashboard.accuracy import target_label
from edge_export.report.dashboard.html import cite, esc, fmt_ms, where_long
from edge_export.report.dashboard.inputs import eager_baseline


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _measured(e) -> bool:
    return not e.is_eager and not e.simulated and e.profile.latency.median > 0


def _fp32_peer(e, profiles):
    """The fp32 artifact's profile to compare `e` with: same model, runtime and place; same threads and target
    family (the part of the name before the first '-') preferred. None when there is none."""
    fam = e.prov.target.split("-")[0]
    peers = [
        p for p in profiles
        if _measured(p) and "fp32" in p.prov.target and p.prov.model_id == e.prov.model_id
        and p.prov.runtime == e.prov.runtime and p.prov.where == e.prov.where
    ]
    peers.sort(key=lambda p: (p.prov.threads != e.prov.threads, p.prov.target.split("-")[0] != fam))
    return peers[0] if peers else None


def _ratio(e, base, what: str) -> str:
    r = e.profile.latency.median / base.profile.latency.median
    return f"<b>{r:.2f}×</b> {what} <span class='small'>({fmt_ms(base.profile.latency.median)} ms)</span> {cite(base)}"


def _fidelity(a) -> str:
    if a is None:
        return "fidelity unknown (no artifact manifest)"
    p = a.manifest.parity
    if p is None:
        return f"not validated against PyTorch {cite(a)}"
    ok = '<span class="ok">pass</span>' if p.passed else '<span class="bad">FAIL</span>'
    out = f"cosine min {p.cosine_min:.5f}, top-1 agreement {100 * p.top1_agree:.1f}% on {p.images} images {ok}"
    ev = a.evaluation
    if ev is not None and not ev.stale_for(a.manifest.file_sha256):
        out += f", top-1 on your images {100 * ev.top1:.2f}% ({-ev.drop:+.2f} pt)"
    return f"{out} {cite(a)}"


def _line(model: str, group: list, profiles, eager_explicit, note: str) -> str:
    e = min(group, key=lambda p: p.profile.latency.median)
    a = e.artifact
    name = target_label(a.manifest) if a else e.prov.target
    base, why = eager_baseline(e, profiles, eager_explicit)
    if base is not None and base.profile.latency.median > 0:
        eager = _ratio(e, base, "eager")
    else:
        eager = f"vs eager: {esc(why or 'the eager median is 0')}"
    if "fp32" in e.prov.target:
        fp32 = "it is the fp32 artifact"
    else:
        peer = _fp32_peer(e, profiles)
        fp32 = _ratio(e, peer, esc(peer.prov.target)) if peer else "vs fp32: no fp32 artifact of this runtime profiled here"
    size = f"{a.manifest.file_bytes / 1e6:.2f} MB" if a else "size unknown (no artifact manifest)"
    return (
        f"<li><b>{esc(model)}</b> <span class='small'>({esc(where_long(e.prov))})</span>: fastest of {len(group)} "
        f"<b>{esc(name)}</b> {fmt_ms(e.profile.latency.median)} ms at {_n(e.prov.threads, 'thread')} {cite(e)} · "
        f"{eager} · {fp32} · "
        f"{_fidelity(a)} · {size}{note}</li>"
    )


def verdict(artifacts, profiles, eager_explicit) -> str:
    """One <li> per model and place where its artifacts were timed (a model only simulated or only exported
    gets a line saying so)."""
    models = sorted({e.prov.model_id for e in profiles} | {a.manifest.model_id for a in artifacts})
    lines = []
    for model in models:
        mine = [e for e in profiles if e.prov.model_id == model]
        places: dict[str, list] = {}
        for e in mine:
            if _measured(e):
                places.setdefault(e.prov.where, []).append(e)
        sims = sum(e.simulated for e in mine)
        note = f" <span class='small'>(not ranked: {_n(sims, 'simulator profile')})</span>" if sims else ""
        for group in places.values():
            lines.append(_line(model, group, profiles, eager_explicit, note))
        if not places:
            arts = sum(a.manifest.model_id == model for a in artifacts)
            why = f"{_n(sims, 'simulator profile')} (not device latency)" if sims else "no latency"
            lines.append(f"<li><b>{esc(model)}</b>: no measured artifact profile — {_n(arts, 'artifact')}, {why}</li>")
    return f"<ul class='verdict' id='verdict'>{''.join(lines)}</ul>"
