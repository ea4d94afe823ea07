"""The "Arm kernels (emulated)" column: each artifact's manifest.arm_parity (validate --arch arm64 --cpu CPU: LiteRT's
aarch64 build under QEMU), one entry per CPU level, beside the host's parity. These runs check the numerics of the
Arm kernels; their times are emulation times, so the column shows none of them as latency."""

from __future__ import annotations

from edge_export.report.dashboard.html import esc

UNRELIABLE = "unreliable"
ARM_TITLE = ("Emulated runs: the artifact on LiteRT's aarch64 build under QEMU user-mode, per CPU feature level "
             "(validate --arch arm64 --cpu CPU), same images and bar as the host's parity. They check the numerics "
             "of the Arm kernels; their times are emulation times, not device latency.")


def arm_head(label: str = "Arm kernels (emulated)") -> str:
    """The column header; its tooltip says what the runs are."""
    return f'<th class="arm" title="{esc(ARM_TITLE)}">{esc(label)}</th>'


def _levels(m) -> list:
    """The manifest's Arm entries in the order of the CPU table (ARMv8.2 first, the SME level last)."""
    from edge_export.arm.cpus import CPUS

    order = list(CPUS)
    return sorted(m.arm_parity.values(), key=lambda p: (order.index(p.cpu) if p.cpu in order else len(order), p.cpu))


def _verdict(p) -> str:
    if p.passed:
        return '<span class="ok">pass</span>'
    # below the bar on an unreliable level is reported, never failed (validate_on_arm)
    return '<span class="bad">FAIL</span>' if p.reliable else '<span class="bad">below the bar</span>'


def _entry(p) -> str:
    mark = "" if p.reliable else f' <span class="badge warn" title="{esc(p.note)}">{UNRELIABLE}</span>'
    return (f"<div class='armcpu' data-cpu='{esc(p.cpu)}'><b>{esc(p.cpu)}</b> "
            f"<span class='small'>{esc(p.feature_level)}</span>{mark}<br>"
            f"cosine min {p.cosine_min:.5f} top-1 {100 * p.top1_agree:.1f}% of {p.images} images {_verdict(p)}</div>")


def arm_cell(a) -> str:
    """The column's cell for artifact entry `a` (None: a profile without a manifest)."""
    if a is None:
        return "—"
    m = a.manifest
    if not m.arm_parity:
        why = "" if m.program_file.endswith(".tflite") else "<br><span class='small'>.tflite artifacts only</span>"
        return f"<span class='small'>not run</span>{why}"
    return "".join(_entry(p) for p in _levels(m))


def arm_provenance(m) -> list[tuple[str, str]]:
    """Provenance rows for each CPU level's Arm run: where its numbers came from."""
    items = []
    for p in _levels(m):
        vs = p.vs_host or {}
        host = (f"; vs this host's kernels on the same file: cosine min {vs['cosine_min']:.6f}, top-1 "
                f"{100 * vs['top1_agree']:.1f}%") if vs else ""
        items.append((f"Arm kernels, {p.cpu} (emulated)", esc(
            f"QEMU -cpu {p.qemu_cpu} ({p.feature_level}{'' if p.reliable else ', UNRELIABLE: ' + p.note}), "
            f"{p.kernels} ({p.delegate_partitions} partitions), {p.images} images, {p.threads} threads, vs "
            f"{p.reference}: cosine min {p.cosine_min:.6f} mean {p.cosine_mean:.6f}, top-1 {100 * p.top1_agree:.1f}%"
            f"{host}; hwcaps {' '.join(p.features)}; "
            + ", ".join(f"{k} {v}" for k, v in sorted(p.versions.items()))
            + f"; invoke {p.emulated_invoke_ms:.1f} ms (emulated: relative cost only); measured {p.measured_at}")))
    return items


def coverage_arm_table(cov: dict, i: int) -> str:
    """The coverage matrix's Arm column (coverage/arm.py) as a table of its .tflite cells."""
    from edge_export.coverage.arm import arm_text

    arm = cov.get("arm")
    if not arm:
        return ""
    rows = [c for c in cov["cells"] if c["ok"] and (c.get("program_file") or "").endswith(".tflite")]
    body = "".join(
        f"<tr><td>{esc(c['model'])}</td><td>{esc(c['target'])}</td>"
        f"<td class='num'>{'–' if c['cosine_min'] is None else format(c['cosine_min'], '.5f')}</td>"
        f"<td>{esc(arm_text(c, arm).replace('**', ''))}</td></tr>" for c in rows)
    cpu = ", ".join(filter(None, (arm.get("cpu"), arm.get("feature_level"))))
    return (f"<h3>Arm kernels (emulated{', ' + esc(cpu) if cpu else ''})</h3>"
            f"<table id='coverage{i}-arm'><tr><th>model</th><th>target</th><th>host cosine min</th>"
            f"{arm_head('Arm kernels (emulated) vs PyTorch and vs host kernels')}"
            f"</tr>{body or '<tr><td colspan=4>no .tflite cell exported and validated</td></tr>'}</table>")
