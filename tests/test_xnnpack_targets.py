"""Both XNNPACK targets on the tiny config: delegation, manifest, parity, and the failure paths."""

from __future__ import annotations

import json
import shutil

import pytest

from edge_export.artifacts import MANIFEST_NAME, Manifest, read_manifest, sha256_file, write_manifest
from edge_export.errors import EdgeExportError, ValidationFailed


def test_single_delegate_and_no_fallback(tiny_artifacts):
    for name in ("xnnpack-fp32", "xnnpack-int8"):
        m = read_manifest(tiny_artifacts[name])
        assert m.delegation.subgraphs == 1
        assert m.delegation.fallback_nodes == 0, m.delegation.fallback_ops
        assert m.delegation.delegated_nodes > 100


def test_manifest_records_everything_needed(tiny_artifacts):
    path = tiny_artifacts["xnnpack-fp32"]
    raw = json.loads((path / MANIFEST_NAME).read_text())
    m = Manifest.model_validate(raw)
    assert m.schema_version == 1 and m.target == "xnnpack-fp32" and m.runtime == "executorch"
    assert m.file_sha256 == sha256_file(path / m.program_file) and m.file_bytes == (path / "model.pte").stat().st_size
    assert m.inputs[0].shape == [1, 3, 64, 64] and m.inputs[0].layout == "NCHW"
    assert m.outputs[0].shape == [1, 10]
    assert m.source.kind == "config" and m.source.seed == 0 and m.source.attention_form == "normalize"
    assert m.preprocessing.image_size == 64 and m.preprocessing.mean[0] == pytest.approx(0.485)
    assert {"torch", "executorch"} <= set(m.package_versions)
    assert m.export_seconds > 0 and m.params > 0 and m.flops > 0 and m.rewrites
    assert (path / m.etrecord_file).is_file()
    assert not list(path.parent.glob(".*.partial"))


def test_fp32_parity_is_float_rounding(tiny_artifacts):
    p = read_manifest(tiny_artifacts["xnnpack-fp32"]).parity
    assert p.images == 8 and p.passed and p.cosine_min >= 0.99999 and p.top1_agree == 1.0


def test_int8_is_smaller_and_reports_fidelity(tiny_artifacts):
    fp32, int8 = read_manifest(tiny_artifacts["xnnpack-fp32"]), read_manifest(tiny_artifacts["xnnpack-int8"])
    assert int8.file_bytes < fp32.file_bytes
    assert int8.parity.cosine_threshold == 0.98 and int8.parity.passed
    assert int8.target_options["float_module_types"] == ["ExportAdditiveAttention"]
    assert int8.target_options["activation_observer"] == "minmax"


def test_validate_rebuilds_the_reference(tiny_artifacts, tmp_path):
    from edge_export.validate import validate_artifact

    art = tmp_path / "a"
    shutil.copytree(tiny_artifacts["xnnpack-fp32"], art)
    parity = validate_artifact(art, images=10)
    assert parity.images == 10 and parity.cosine_min >= 0.99999
    assert read_manifest(art).parity.images == 10


def test_truncated_program_is_refused(tiny_artifacts, tmp_path, cli):
    art = tmp_path / "a"
    shutil.copytree(tiny_artifacts["xnnpack-fp32"], art)
    data = (art / "model.pte").read_bytes()
    (art / "model.pte").write_bytes(data[: len(data) // 3])
    code, out, err = cli("validate", str(art))
    assert code == 2 and "truncated or replaced" in err and "Traceback" not in err
    code, out, err = cli("inspect", str(art))
    assert code == 2 and "truncated or replaced" in err


def test_garbage_program_with_matching_manifest_is_refused(tiny_artifacts, tmp_path):
    from edge_export.validate import validate_artifact

    art = tmp_path / "a"
    shutil.copytree(tiny_artifacts["xnnpack-fp32"], art)
    (art / "model.pte").write_bytes(b"\x00garbage" * 1000)
    m = read_manifest(art)
    write_manifest(art, m.model_copy(update={"file_sha256": sha256_file(art / "model.pte"), "file_bytes": 8000}))
    with pytest.raises(EdgeExportError, match="not a valid .pte"):
        validate_artifact(art)


def test_wrong_weights_fail_validation(tiny_artifacts, tmp_path):
    """An artifact whose reference differs (other seed) is caught: exit non-zero, parity stored as failed."""
    from edge_export.validate import validate_artifact

    art = tmp_path / "a"
    shutil.copytree(tiny_artifacts["xnnpack-fp32"], art)
    m = read_manifest(art)
    write_manifest(art, m.model_copy(update={"source": m.source.model_copy(update={"seed": 99})}))
    with pytest.raises(ValidationFailed, match="cosine_min"):
        validate_artifact(art)
    assert read_manifest(art).parity.passed is False


def test_missing_manifest_and_missing_dir(tmp_path, cli):
    code, _, err = cli("validate", str(tmp_path))
    assert code == 2 and "no manifest.json" in err
    code, _, err = cli("inspect", str(tmp_path / "nope"))
    assert code == 2 and "not found" in err


def test_failed_export_leaves_nothing(tmp_path, monkeypatch):
    from edge_export.export import ExportRequest, export
    from edge_export.targets import get_target

    target = get_target("xnnpack-fp32")

    def boom(*a, **k):
        (a[4].workdir / "model.pte").write_bytes(b"half")
        raise RuntimeError("simulated backend crash")

    monkeypatch.setattr(type(target), "export", lambda self, *a, **k: boom(self, *a, **k))
    with pytest.raises(EdgeExportError, match="simulated backend crash"):
        export(ExportRequest("swiftformer-test", ["xnnpack-fp32"], tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_inputs(tmp_path, cli):
    code, _, err = cli("export", "swiftformer-nope", "--target", "xnnpack-fp32", "--out", str(tmp_path))
    assert code == 2 and "unknown model" in err
    code, _, err = cli("export", "swiftformer-test", "--target", "coreml", "--out", str(tmp_path))
    assert code == 2 and "unknown target 'coreml'" in err
    code, _, err = cli("export", "swiftformer-test", "-t", "xnnpack-fp32", "--checkpoint", str(tmp_path / "x.pth"))
    assert code == 2 and "checkpoint not found" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli("export", "swiftformer-test", "-t", "xnnpack-fp32", "--out", str(blocker / "sub"))
    assert code == 2 and "cannot write to output dir" in err
    code, _, err = cli("export", "swiftformer-test", "-t", "xnnpack-fp32", "--layout", "nhwc", "--out", str(tmp_path))
    assert code == 2 and "option layout does not apply" in err
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_cli_inspect_and_models(tiny_artifacts, cli):
    code, out, err = cli("inspect", str(tiny_artifacts["xnnpack-int8"]))
    assert code == 0, err
    assert "XnnpackBackend" in out and "aten.convolution" in out and "0 fallback nodes" in out
    code, out, err = cli("models")
    assert code == 0 and "swiftformer-l3-normalize" in out and "28.495" in out
