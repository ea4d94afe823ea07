"""One self-contained HTML report from profiles and artifact manifests (`edge-export dashboard`).

Inputs are profile JSON files and/or artifact directories (a directory holding `manifest.json`, whose
profiles are any `*.json` beside it or under `profiles/` that is a profile), or a directory of
artifact directories (e.g. `artifacts/`). The page embeds plotly.js, so it opens offline and fetches
nothing.

Every number carries its source: profiles are cited as P1, P2, ... and artifact manifests as A1,
A2, ..., each with a provenance entry (where it ran, device / host CPU, runtime and versions, date).
Numbers from simulators (provenance.simulator) are marked "SIMULATOR — not device latency" wherever
they appear, with the collector's own words beside the mark when it has them (provenance.device["timing"]:
Arm under QEMU says "emulated: relative cost only"). The artifacts table's "Arm kernels (emulated)" column
shows each manifest's arm_parity (validate --arch arm64) per CPU level (arm.py).
"""

from edge_export.report.dashboard.html import SIM_MARK
from edge_export.report.dashboard.inputs import ArtifactEntry, ProfileEntry, collect
from edge_export.report.dashboard.page import build_dashboard, render

__all__ = ["SIM_MARK", "ArtifactEntry", "ProfileEntry", "build_dashboard", "collect", "render"]
