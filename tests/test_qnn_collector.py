"""edge_export.runtimes.qnn.host_collector: a qnn-fp16 artifact profiled on QNN's x86 HTP simulator (`qnn` marker: needs
the provisioned host SDK). Per-op rows come from the "<fx node>:OpId_N (cycles)" ETDump events and are attributed
to modules through the ETRecord; the profile is always labelled simulator=True."""

from __future__ import annotations

import sys
import time

import pytest

from edge_export.artifacts import read_manifest
from edge_export.export import ExportRequest, export

TINY = "swiftformer-test"
TINY_OPTS = {"layer_scale_init_value": 1.0}


def test_collector_is_registered_for_the_host():
    from edge_export.runtimes import get_runtime

    assert "host" in get_runtime("executorch-qnn").profilers


@pytest.mark.qnn
def test_qnn_host_profile_on_the_simulator(host_sdk, tmp_path):
    from edge_export.models import load_model
    from edge_export.profile.dispatch import profile_artifact
    from edge_export.profile.schema import load_profile

    t = time.perf_counter()
    (art,) = export(ExportRequest(TINY, ["qnn-fp16"], tmp_path / "out", model_options=dict(TINY_OPTS),
                                  validate_images=1))
    t_export = time.perf_counter() - t
    m = read_manifest(art)
    assert m.runtime == "executorch-qnn"
    t = time.perf_counter()
    profile, path = profile_artifact(art, "host", runs=2, warmup=1)
    t_profile = time.perf_counter() - t
    assert load_profile(path) == profile

    p = profile.provenance
    assert p.simulator is True and p.collector == "qnn-htp-simulator-etdump" and p.runtime == "executorch-qnn"
    assert p.runs == 2 and len(profile.latency_ms) == 2 and all(v > 0 for v in profile.latency_ms)
    assert any("simulator" in n for n in profile.notes)
    rows = profile.rows
    assert len(rows) > 100 and all(r.name.endswith(" (cycles)") and ":OpId_" in r.name for r in rows)
    assert all(r.delegate == "QnnBackend" and r.stats.n == 2 for r in rows)
    # rows were scaled to the run's "Accelerator (execute) time (us)": they sum to <= the whole run
    assert any("Accelerator (execute) time (us)" in n for n in profile.notes)
    assert 0 < profile.op_total_ms() <= profile.latency.max * 1.01
    frac = profile.attributed_fraction()
    # measured 0.91-0.95 (the rest: QNN-inserted permute/view layout ops; simulator cycles vary run to run)
    assert frac >= 0.85, frac
    modules = dict(load_model(TINY, None, 0, dict(TINY_OPTS)).module.named_modules())
    paths = {r.module_path for r in rows if r.module_path}
    assert len(paths) > 10
    # "<attn>.l2norm" is the target's fp16-safe L2-normalize rewrite, a submodule the eager model does not have
    missing = sorted(x for x in paths if x not in modules and not (x.endswith(".l2norm") and x[:-7] in modules))
    assert not missing, missing[:5]
    kinds = {r.kind for r in rows}
    assert {"conv", "normalize"} <= kinds, kinds
    top = max(rows, key=lambda r: r.stats.median)
    print(f"[qnn-profile] export {t_export:.1f} s, profile {t_profile:.1f} s, {len(rows)} rows, attributed "
          f"{frac:.3f}, latency {profile.latency.median:.1f} ms, ops {profile.op_total_ms():.1f} ms, top "
          f"{top.name} {top.stats.median:.1f} ms in {top.module_path}", file=sys.stderr)
