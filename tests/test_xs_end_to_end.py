"""The real SwiftFormer-XS through the CLI: both XNNPACK targets, validated on photographs."""

from __future__ import annotations

import pytest

from edge_export.artifacts import read_manifest

pytestmark = pytest.mark.slow


def test_xs_exports_to_both_xnnpack_targets(tmp_path, cli):
    code, out, err = cli(
        "export", "swiftformer-xs", "--opt", "layer_scale_init_value=1.0", "-t", "xnnpack-fp32", "-t", "xnnpack-int8",
        "--calib", "8", "--target-opt", "observer=minmax", "--target-opt", "etrecord=false", "--out", str(tmp_path),
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
