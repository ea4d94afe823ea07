"""Small HTML pieces every dashboard section uses: escaping, number formats, citations, badges, figures."""

from __future__ import annotations

import html

SIM_MARK = "SIMULATOR — not device latency"
PCT_TITLE = "% of that backend's op time"
MS_TITLE = "ms (sum of per-op medians)"


def esc(x) -> str:
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


def cite(e) -> str:
    """A link to the provenance entry of an artifact (A1..) or a profile (P1..)."""
    pid = getattr(e, "aid", None) or e.pid
    return f'<a class="cite" href="#prov-{pid}">[{pid}]</a>'


def timing_label(prov) -> str | None:
    """What a collector says its times are, in its own words (Arm under QEMU: "emulated: relative cost only")."""
    return prov.device.get("timing") if prov is not None else None


def sim_badge(prov=None) -> str:
    """The simulator mark, and the profile's own timing label beside it when it has one."""
    label = timing_label(prov)
    emu = f' <span class="badge emu">{esc(label)}</span>' if label else ""
    return f'<span class="badge sim">{esc(SIM_MARK)}</span>{emu}'


def where_long(prov) -> str:
    d = prov.device
    if prov.where == "host":
        cpu = d.get("cpu_model") or d.get("cpu") or "unknown CPU"
        return f"host · {cpu}"
    bits = [d.get(k) for k in ("model", "soc", "android_version") if d.get(k)]
    return " · ".join([prov.where] + bits)


def kv_table(items) -> str:
    return "<table class='kv'>" + "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in items) + "</table>"


def default_unit(totals) -> str:
    """Shares when backends differ by more than 4x in op time (a simulator next to a CPU), else ms."""
    t = [v for v in totals if v > 0]
    return "pct" if t and max(t) > 4 * min(t) else "ms"


def unit_buttons(group: str, unit: str) -> str:
    """ms / % switch for the figures of `group` (dashboard.js setUnit)."""
    return "".join(
        f'<button type="button" class="lvl{" active" if u == unit else ""}" data-unit-btn="{group}:{u}" '
        f'onclick="setUnit(\'{group}\', \'{u}\')">{label}</button>'
        for u, label in (("ms", "ms"), ("pct", "% of op time"))
    )


def fig_html(fig, div_id: str) -> str:
    import plotly.io as pio

    return pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config={"responsive": True, "displaylogo": False},
        default_height=f"{fig.layout.height or 450}px",
    )
