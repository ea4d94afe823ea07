"""The real SwiftFormer-XS through the CLI: both XNNPACK targets, validated on photographs."""

from __future__ import annotations

import pytest

from edge_export.artifacts import read_manifest

pytestmark = pytest.mark.slow


def test_xs_exports_to_both_xnnpack_targets(tmp_path, cli):
    code, out, err = cli(
        "export", "swiftformer-xs", "--opt", "layer_scale_init_value=1.0", "-t", "xnnpack-fp32", "-t", "xnnpack-int8",
        "--calib", "8", "--target-opt", "observer=minmax", "--out", str(tmp_path),
    )
    assert code == 0, err
    fp32 = read_manifest(tmp_path / "swiftformer-xs-xnnpack-fp32")
    int8 = read_manifest(tmp_path / "swiftformer-xs-xnnpack-int8")
    for m in (fp32, int8):
        assert m.delegation.subgraphs == 1 and m.delegation.fallback_nodes == 0
        assert m.params == 3_475_360
    assert fp32.parity.cosine_min >= 0.99999
    assert int8.parity.passed and int8.file_bytes < 0.5 * fp32.file_bytes
    code, out, err = cli("validate", str(tmp_path / "swiftformer-xs-xnnpack-fp32"), "--images", "12", "--threads", "2")
    assert code == 0, err

    # Per-layer profile of the shipped single-delegate program, attributed to modules.
    code, out, err = cli("profile", str(tmp_path / "swiftformer-xs-xnnpack-fp32"), "--runs", "10", "--threads", "2", "--eager")
    assert code == 0, err
    from edge_export.profile.schema import load_profile

    prof = load_profile(tmp_path / "swiftformer-xs-xnnpack-fp32" / "profile-host.json")
    assert prof.attributed_fraction() >= 0.9
    # rows cover the run: per-op means add up to the mean run (ETDump times the same runs the wall clock does;
    # the rest is delegate-call overhead and, on a loaded machine, preemption between ops)
    assert 0.75 <= sum(r.stats.mean for r in prof.rows) / prof.latency.mean <= 1.05
    assert any(r.module_path and r.module_path.endswith("attn.to_query") for r in prof.rows)
