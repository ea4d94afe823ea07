"""The dashboard's tables: one overview row per artifact/profile, and the provenance of every source."""

from __future__ import annotations

from edge_export.report.dashboard.accuracy import accuracy_cell
from edge_export.report.dashboard.arm import arm_cell, arm_head, arm_provenance
from edge_export.report.dashboard.html import cite, esc, fmt_ms, kv_table, sim_badge, where_long
from edge_export.report.dashboard.inputs import eager_baseline


def overview(artifacts, profiles, eager_explicit) -> str:
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
        "<th>delegation</th><th>parity vs PyTorch</th>" + arm_head() + "<th>accuracy</th><th>median latency</th><th>vs eager</th>"
        "<th>where it ran</th></tr>"
    )
    body = []
    for a, e in rows:
        m = a.manifest if a else None
        prov = e.prov if e else None
        model = m.model_id if m else prov.model_id
        target = (m.target if m else prov.target) + (" " + cite(a) if a else "")
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
            fb = ", ".join(f"{esc(k)}×{v}" for k, v in sorted(d.fallback_ops.items(), key=lambda kv: -kv[1])[:4])
            deleg = (
                f"{esc(d.backend)}: <b>{cov:.1f}%</b> of nodes delegated ({d.delegated_nodes}/{tot}) "
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
            lat = f"<b>{fmt_ms(s.median)} ms</b> <span class='small'>p10–p90 {fmt_ms(s.p10)}–{fmt_ms(s.p90)}, n={s.n}</span> {cite(e)}"
            if e.simulated:
                lat += "<br>" + sim_badge(prov)
            if not e.profile.complete:
                lat += ' <span class="badge warn">INCOMPLETE</span>'
            base, why = eager_baseline(e, profiles, eager_explicit)
            if base is not None and base.profile.latency.median > 0:
                r = s.median / base.profile.latency.median
                ratio = (
                    f"<b>{r:.2f}×</b> <span class='small' title='median / eager median, same place'>"
                    f"of {fmt_ms(base.profile.latency.median)} ms</span> {cite(base)}"
                )
            else:
                ratio = f"<span class='small'>{esc(why)}</span>"
        where = "—"
        if prov:
            where = f"{esc(where_long(prov))}<br><span class='small'>{prov.threads} thread{'s' if prov.threads != 1 else ''} · {esc(prov.collector)}</span>"
        cls = ' class="simrow"' if e and e.simulated else ""
        body.append(
            f"<tr{cls}><td>{esc(model)}</td><td>{target}</td><td>{esc(runtime)}</td><td class='num'>{size}</td>"
            f"<td class='num'>{export}</td><td>{deleg}</td><td>{parity}</td><td class='arm'>{arm_cell(a)}</td><td>{accuracy_cell(a)}</td><td>{lat}</td><td>{ratio}</td><td>{where}</td></tr>"
        )
    return f'<table class="overview" id="overview">{head}{"".join(body)}</table>'


def provenance(artifacts, profiles) -> str:
    out = []
    for e in profiles:
        p = e.prov
        items = [
            ("file", f"<code>{esc(e.path)}</code>"),
            ("where", esc(p.where) + (" " + sim_badge(p) if p.simulator else "")),
            ("device / host", esc(", ".join(f"{k}={v}" for k, v in p.device.items()) or "—")),
            ("runtime", esc(f"{p.runtime} {p.runtime_version or ''}".strip())),
            ("collector", esc(p.collector)),
            ("model / target", esc(f"{p.model_id} / {p.target}")),
            ("program sha256", f"<code>{esc(p.artifact_sha256)}</code>"),
            ("threads · runs · warmup", f"{p.threads} · {p.runs} · {p.warmup}"),
            ("collected at", esc(p.collected_at)),
        ]
        if p.options:
            items.append(("options", esc(", ".join(f"{k}={v}" for k, v in p.options.items()))))
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
            items.append(("artifact", cite(e.artifact)))
        notes = list(e.profile.notes) + e.warnings
        if notes:
            items.append(("notes", "<br>".join(esc(n) for n in notes)))
        out.append(f"<div class='prov' id='prov-{e.pid}'><h3>{e.pid} · {esc(e.label)}</h3>{kv_table(items)}</div>")
    for a in artifacts:
        m = a.manifest
        items = [
            ("directory", f"<code>{esc(a.dir)}</code>"),
            ("model / target / runtime", esc(f"{m.model_id} / {m.target} / {m.runtime}")),
            ("program", f"<code>{esc(m.program_file)}</code> {m.file_bytes:,} bytes, sha256 <code>{esc(m.file_sha256)}</code>"),
            ("source", esc(f"{m.source.kind} {m.source.model_id}" + (f" ({m.source.attention_form} attention)" if m.source.attention_form else ""))),
            ("exported", esc(f"{m.created_at} in {m.export_seconds:.1f} s on the exporting host")),
            ("package versions", esc(", ".join(f"{k} {v}" for k, v in sorted(m.package_versions.items())))),
            ("params · FLOPs", f"{m.params:,} · {m.flops:,}" if m.flops else f"{m.params:,}"),
        ]
        if m.rewrites:
            items.append(("rewrites", esc(", ".join(m.rewrites))))
        if m.parity:
            p = m.parity
            items.append(
                ("parity", esc(
                    f"{p.images} images from {p.image_source}, {p.threads} threads, vs {p.reference}; cosine min "
                    f"{p.cosine_min:.6f} mean {p.cosine_mean:.6f}, max |Δ| {p.max_abs:.3g}, rel L2 {p.rel_l2:.3g}, "
                    f"top-1 {100 * p.top1_agree:.1f}%, top-5 overlap {100 * p.top5_overlap:.1f}%; measured {p.measured_at}"
                ))
            )
        items += arm_provenance(m)
        if m.delegation:
            d = m.delegation
            for name, ops in (("delegated ops", d.delegated_ops), ("fallback ops", d.fallback_ops)):
                if ops:
                    items.append((name, esc(", ".join(f"{k}×{v}" for k, v in sorted(ops.items(), key=lambda kv: -kv[1])))))
        if a.evaluation is not None:
            ev = a.evaluation
            items.append(("evaluation", esc(
                f"{ev.path.name}: {ev.images} labelled images from {ev.data_root} (files sha256 {ev.data_sha256[:12]}…), "
                f"measured {ev.measured_at}" + (" — STALE: it scored another program" if ev.stale_for(m.file_sha256) else "")
            )))
        if m.notes:
            items.append(("notes", "<br>".join(esc(n) for n in m.notes)))
        out.append(f"<div class='prov' id='prov-{a.aid}'><h3>{a.aid} · artifact {esc(m.model_id)} / {esc(m.target)}</h3>{kv_table(items)}</div>")
    return f"<div class='provgrid'>{''.join(out)}</div>"
