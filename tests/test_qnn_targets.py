"""qnn-fp16 / qnn-int8 through edge_export.export: the no-SDK error paths always; with the provisioned host
SDK (`qnn` marker) the tiny config lowered for two chipsets (fp16) and one (int8), validated on QNN's x86
HTP simulator by the executorch-qnn runner; SwiftFormer-XS fp16 end to end under `slow`.

Every QNN load happens in a child process, so a broken SDK can fail a test but not kill pytest.
"""

from __future__ import annotations

import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_export.artifacts import Manifest, read_manifest, sha256_file, write_manifest
from edge_export.errors import EdgeExportError, ExportFailed
from edge_export.export import ExportRequest, export
from edge_export.runtimes.qnn.sdk import ENV_HOME, ENV_SDK_ROOT, HOST_LIB_SUBDIR, QnnSdkError

TINY = "swiftformer-test"
TINY_OPTS = {"layer_scale_init_value": 1.0}


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg, f"error message is not one line: {msg!r}"
    return msg


def _left_in(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


@pytest.fixture(scope="module")
def tiny_loaded():
    from edge_export.models import load_model

    return load_model(TINY, None, 0, dict(TINY_OPTS))


@pytest.fixture
def no_sdk_env(monkeypatch, tmp_path):
    """No QNN_SDK_ROOT and an empty provisioning home: nothing to find."""
    home = tmp_path / "empty-home"
    home.mkdir()
    monkeypatch.delenv(ENV_SDK_ROOT, raising=False)
    monkeypatch.setenv(ENV_HOME, str(home))
    return tmp_path


# ------------------------------------------------------------------------------------------------
# Registration, options, the fp16-safe normalization: no SDK needed
# ------------------------------------------------------------------------------------------------


def test_targets_are_registered_as_experimental():
    from edge_export.targets import get_target

    fp16, int8 = get_target("qnn-fp16"), get_target("qnn-int8")
    for t in (fp16, int8):
        assert t.experimental and t.runtime == "executorch-qnn"
        assert {"soc", "qnn_sdk", "profile_level", "etrecord"} <= t.accepted_options
    assert {"quant_dtype", "observer"} <= int8.accepted_options
    assert fp16.cosine_threshold == 0.999 and int8.cosine_threshold == 0.98
    from edge_export.runtimes import get_runtime, runtime_names

    assert "executorch-qnn" in runtime_names()
    assert type(get_runtime("executorch-qnn")).__module__ == "edge_export.runtimes.qnn"


@pytest.mark.parametrize(
    "env, options, expected",
    [
        ({}, {}, "QNN SDK not found"),
        ({ENV_SDK_ROOT: ""}, {}, f"{ENV_SDK_ROOT} is set but empty"),
        ({ENV_SDK_ROOT: "{tmp}/nowhere"}, {}, "does not exist"),
        ({ENV_SDK_ROOT: "{tmp}/wrong"}, {}, f"has no {HOST_LIB_SUBDIR}/"),
        ({}, {"qnn_sdk": "{tmp}/nowhere"}, "QNN SDK path"),
        ({ENV_SDK_ROOT: "{tmp}/wrong"}, {"qnn_sdk": "{tmp}/wrong"}, f"has no {HOST_LIB_SUBDIR}/"),
    ],
    ids=["unset", "empty", "nonexistent", "wrong-layout", "option-nonexistent", "option-wrong-layout"],
)
@pytest.mark.parametrize("target", ["qnn-fp16", "qnn-int8"])
def test_missing_or_broken_sdk_fails_in_one_line_and_writes_nothing(
    no_sdk_env, monkeypatch, tiny_loaded, target, env, options, expected
):
    tmp = no_sdk_env
    (tmp / "wrong").mkdir()  # a directory, but not a QAIRT root
    for k, v in env.items():
        monkeypatch.setenv(k, v.format(tmp=tmp))
    out = tmp / "out"
    opts = {k: v.format(tmp=tmp) for k, v in options.items()}
    t = time.perf_counter()
    with pytest.raises(EdgeExportError) as info:
        export(ExportRequest(model=tiny_loaded, targets=[target], out_dir=out, target_options=opts, calib=2))
    msg = _one_line(info.value)
    assert expected in msg
    assert "QNN_SDK_ROOT" in msg or "qnn-sdk setup" in msg or "QAIRT root" in msg  # says what to set
    assert _left_in(out) == []
    assert time.perf_counter() - t < 30  # fails before any lowering or calibration work


@pytest.mark.parametrize(
    "target, options, expected",
    [
        ("qnn-fp16", {"soc": "SM9999"}, "unknown --soc 'SM9999': choose a QcomChipset from"),
        ("qnn-fp16", {"profile_level": "loud"}, "unknown profile_level"),
        ("qnn-int8", {"quant_dtype": "4a4w"}, "unknown quant_dtype"),
        ("qnn-int8", {"observer": "ema"}, "unknown observer"),
        ("qnn-fp16", {"quant_dtype": "8a8w"}, "does not apply to qnn-fp16"),
    ],
)
def test_bad_options_fail_in_one_line(no_sdk_env, tiny_loaded, target, options, expected):
    out = no_sdk_env / "out"
    with pytest.raises(EdgeExportError) as info:
        export(ExportRequest(model=tiny_loaded, targets=[target], out_dir=out, target_options=options, calib=2))
    msg = _one_line(info.value)
    assert expected in msg
    if "soc" in options:
        assert "SM8650" in msg and "SM8550" in msg and "SM8750" in msg
    assert _left_in(out) == []


def test_soc_is_case_insensitive_and_maps_to_htp_arch():
    from edge_export.targets.qnn import DEFAULT_SOC, soc_of

    assert soc_of({}) == (DEFAULT_SOC, "v75")
    assert soc_of({"soc": "sm8550"}) == ("SM8550", "v73")
    assert soc_of({"soc": "SM8750"}) == ("SM8750", "v79")


def test_check_available_with_options(no_sdk_env):
    from edge_export.targets import get_target

    target = get_target("qnn-fp16")
    target.check_available()  # without options it cannot know --qnn-sdk: export() checks
    with pytest.raises(QnnSdkError, match="QNN SDK not found"):
        target.check_available({})


def test_fp16_safe_normalization_is_the_same_function():
    from edge_export.models.export_form import L2NormalizeLastDim
    from edge_export.targets.qnn import Fp16SafeL2Normalize

    plain = L2NormalizeLastDim(16).double()
    safe = Fp16SafeL2Normalize(plain).double()
    g = torch.Generator().manual_seed(0)
    for scale in (1e-5, 3e-4, 1.0, 1e3):
        v = torch.randn(2, 7, 16, generator=g, dtype=torch.float64) * scale
        v[0, 0] = 0  # a zero vector stays zero (no NaN)
        assert torch.allclose(safe(v), plain(v), rtol=1e-12, atol=1e-300)
        assert torch.isfinite(safe(v)).all() and (safe(v)[0, 0] == 0).all()
    # Why: at swiftformer-test's activation scale every square is below fp16's smallest normal number
    # (HTP flushes those); prescaled, the sum of squares is in [1, 16].
    v = torch.randn(100, 16, generator=g, dtype=torch.float64) * 3e-4
    assert ((v * v) < 2.0**-14).all()
    u = v / v.abs().amax(-1, keepdim=True)
    assert ((u * u).sum(-1) >= 1).all() and ((u * u).sum(-1) <= 16).all()


def test_fp16_safe_form_keeps_names_and_leaves_the_input_alone(tiny_loaded):
    from edge_export.models.export_form import L2NormalizeLastDim, export_form
    from edge_export.targets.qnn import Fp16SafeL2Normalize, fp16_safe_form

    module, _ = export_form(tiny_loaded)
    safe, swapped = fp16_safe_form(module)
    assert swapped == 4  # one per attention block (used for its query and its key)
    assert sum(isinstance(m, L2NormalizeLastDim) for m in module.modules()) == 4  # input untouched
    names = {n for n, m in safe.named_modules() if isinstance(m, Fp16SafeL2Normalize)}
    assert names == {n for n, m in module.named_modules() if isinstance(m, L2NormalizeLastDim)}
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (safe(x) - module(x)).abs().max().item() < 1e-6


def _fake_qnn_artifact(path: Path, options: dict | None = None) -> Path:
    from edge_export.artifacts import Preprocessing, SourceSpec, TensorSpec

    path.mkdir(parents=True)
    (path / "model.pte").write_bytes(b"\0" * 64)
    m = Manifest(
        model_id=TINY, source=SourceSpec(kind="config", model_id=TINY, seed=0), target="qnn-fp16",
        runtime="executorch-qnn", program_file="model.pte", file_sha256=sha256_file(path / "model.pte"),
        file_bytes=64, inputs=[TensorSpec(name="input", shape=[1, 3, 64, 64], dtype="float32", layout="NCHW")],
        outputs=[TensorSpec(name="logits", shape=[1, 10], dtype="float32", layout="NC")],
        preprocessing=Preprocessing(image_size=64), num_classes=10, params=1, package_versions={},
        export_seconds=1.0, created_at="2026-01-01T00:00:00+00:00", target_options=options or {},
    )
    write_manifest(path, m)
    return path


def test_runner_without_sdk_fails_in_one_line(no_sdk_env):
    from edge_export.runtimes import open_runner

    art = _fake_qnn_artifact(no_sdk_env / "art", {"qnn_sdk": str(no_sdk_env / "gone")})
    with pytest.raises(QnnSdkError) as info:
        open_runner(art)
    assert _one_line(info.value).startswith("QNN SDK not found")


def test_validate_of_a_qnn_artifact_without_sdk_fails_in_one_line(no_sdk_env):
    from edge_export.validate import validate_artifact

    art = _fake_qnn_artifact(no_sdk_env / "art")
    with pytest.raises(EdgeExportError) as info:
        validate_artifact(art, images=1)
    assert "QNN SDK not found" in _one_line(info.value)


# ------------------------------------------------------------------------------------------------
# `edge-export qnn-sdk ...` (the sub-app; cli.py mounts it as `qnn-sdk`)
# ------------------------------------------------------------------------------------------------


def test_qnn_sdk_cli_help_says_experimental():
    from typer.testing import CliRunner

    from edge_export.cli.qnn import qnn_app

    runner = CliRunner()
    for args in ([], ["setup", "--help"], ["info", "--help"]):
        res = runner.invoke(qnn_app, args, env={"COLUMNS": "200"})
        assert "EXPERIMENTAL" in res.output, res.output
    res = runner.invoke(qnn_app, ["setup", "--help"], env={"COLUMNS": "200"})
    assert "--dir" in res.output and "--force" in res.output


def test_qnn_sdk_setup_refuses_a_bad_wheel_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from edge_export.cli.qnn import qnn_app

    bogus = tmp_path / "onnxruntime_qnn-9.9.9-cp311-cp311-manylinux_2_35_x86_64.whl"
    with zipfile.ZipFile(bogus, "w") as zf:
        zf.writestr("onnxruntime_qnn/__init__.py", "")
    res = CliRunner().invoke(qnn_app, ["setup", "--dir", str(tmp_path / "sdk"), "--wheel", str(bogus)],
                             env={"COLUMNS": "300"})
    assert res.exit_code == 2
    assert "unknown wheel layout" in res.output
    assert not (tmp_path / "sdk").exists()


def test_qnn_sdk_info_without_sdk(no_sdk_env):
    from typer.testing import CliRunner

    from edge_export.cli.qnn import qnn_app

    res = CliRunner().invoke(qnn_app, ["info"], env={"COLUMNS": "300"})
    assert res.exit_code == 2 and "QNN SDK not found" in res.output


# ------------------------------------------------------------------------------------------------
# With the provisioned host SDK: lower, validate on the HTP simulator
# ------------------------------------------------------------------------------------------------


@pytest.mark.qnn
@pytest.mark.parametrize("name, arch", [("qnn-fp16-SM8650", "v75"), ("qnn-fp16-SM8550", "v73"),
                                        ("qnn-int8-SM8650", "v75")])
def test_lowered_fully_and_validated_on_the_simulator(qnn_tiny, host_sdk, name, arch):
    m = read_manifest(qnn_tiny[name])
    assert m.runtime == "executorch-qnn" and m.target == name.rsplit("-", 1)[0]
    o = m.target_options
    assert o["soc"] == name.rsplit("-", 1)[1] and o["htp_arch"] == arch
    assert o["qairt_version"] == host_sdk.qairt_version and o["qnn_compat_shim"] == host_sdk.uses_compat_shim
    assert o["profile_level"] == 2 and o["fp16_safe_l2norm"] == 4 and o["qnn_sdk"] == str(host_sdk.root)
    d = m.delegation
    assert d.backend == "QnnBackend" and d.subgraphs == 1 and d.fallback_nodes == 0, d.fallback_ops
    assert d.delegated_ops.get("aten.convolution.default", 0) >= 20
    p = m.parity
    assert p.passed and p.images == 8 and p.cosine_threshold == (0.999 if "fp16" in name else 0.98)
    if "fp16" in name:
        assert p.cosine_min >= 0.9999 and p.top1_agree == 1.0  # measured 0.999998
    assert any("simulator" in n and "experimental" in n for n in m.notes)
    assert (qnn_tiny[name] / m.etrecord_file).is_file()
    assert not (qnn_tiny[name] / "forward_schematic.bin").exists()


@pytest.mark.qnn
def test_int8_is_smaller_and_records_its_recipe(qnn_tiny):
    fp16, int8 = read_manifest(qnn_tiny["qnn-fp16-SM8650"]), read_manifest(qnn_tiny["qnn-int8-SM8650"])
    assert int8.file_bytes < fp16.file_bytes
    o = int8.target_options
    assert o["quant_dtype"] == "8a8w" and o["activation_observer"] == "histogram" and o["calibration_images"] == 32
    assert o["seconds_quantize"] > 0


@pytest.mark.qnn
def test_runner_keeps_one_child_and_matches_per_call(qnn_tiny):
    from edge_export.images import validation_batch
    from edge_export.runtimes import open_runner

    art = qnn_tiny["qnn-fp16-SM8650"]
    m = read_manifest(art)
    _, batch = validation_batch(m.preprocessing, 4)
    with open_runner(art, m) as runner:
        assert runner.simulator and runner.runtime == "executorch-qnn"
        pid = runner.session.pid
        many = runner.logits_many(batch.numpy())
        assert len(runner.last_seconds) == 4
        single = np.concatenate([runner.logits(batch[i : i + 1].numpy()) for i in range(4)])
        assert runner.session.pid == pid
    assert many.shape == (4, 10) and np.array_equal(many, single)
    with torch.no_grad():
        from edge_export.models import load_from_source

        ref = load_from_source(m.source).logits(batch).numpy()
    cos = (ref * many).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(many, axis=1))
    assert cos.min() >= 0.9999


@pytest.mark.qnn
def test_detailed_profile_level_puts_per_op_cycles_in_the_etdump(qnn_tiny, tmp_path):
    """What a profile collector reads: one "<fx node>:OpId_N (cycles)" delegate event per QNN op and run.
    Their start_time is 0 and end_time the cycle count (not a timestamp); "(us)" rows are microseconds."""
    from executorch.devtools.etdump.serialize import deserialize_from_etdump_flatcc

    from edge_export.images import validation_batch
    from edge_export.runtimes import open_runner

    art = qnn_tiny["qnn-fp16-SM8550"]
    m = read_manifest(art)
    _, batch = validation_batch(m.preprocessing, 2)
    with open_runner(art, m, enable_etdump=True) as runner:
        runner.logits_many(batch.numpy())
        etdump = runner.write_etdump(tmp_path / "run.etdump")
    et = deserialize_from_etdump_flatcc(etdump.read_bytes())
    runs = [[e.profile_event for e in rd.events if e.profile_event is not None] for rd in et.run_data]
    runs = [r for r in runs if any(e.name == "DELEGATE_CALL" for e in r)]
    assert len(runs) == 2
    names = [e.delegate_debug_id_str for e in runs[0] if e.delegate_debug_id_str]
    per_op = [n for n in names if ":OpId_" in n and n.endswith(" (cycles)")]
    assert len(per_op) > 100
    assert "QNN (execute) time (us)" in names and "Accelerator (execute) time (cycles)" in names
    # the op names are FX node names of the ETRecord's edge program (module attribution goes through them)
    assert any(n.startswith("aten_convolution_default") for n in per_op)
    qnn_us = next(e.end_time for e in runs[0] if e.delegate_debug_id_str == "QNN (execute) time (us)")
    call = next(e for e in runs[0] if e.name == "DELEGATE_CALL")
    assert 0.5 < qnn_us * 1e3 / (call.end_time - call.start_time) <= 1.01  # us vs ns timestamps


@pytest.mark.qnn
def test_a_qnn_crash_during_lowering_is_one_line_and_writes_nothing(host_sdk, tiny_loaded, tmp_path, monkeypatch):
    """Without the shim's rewrite QAIRT 2.5x rejects ExecuTorch's device config (error 14001) in the child."""
    if not host_sdk.uses_compat_shim:
        pytest.skip("no shim in this SDK")
    monkeypatch.setenv("EDGE_EXPORT_QNN_SHIM_DISABLE", "1")
    out = tmp_path / "out"
    with pytest.raises(ExportFailed) as info:
        export(ExportRequest(model=tiny_loaded, targets=["qnn-fp16"], out_dir=out,
                             target_options={"qnn_sdk": str(host_sdk.root), "etrecord": "false"}))
    msg = _one_line(info.value)
    assert msg.startswith("QNN lowering (SM8650 fp16) ")
    assert _left_in(out) == []
    assert "14001" in info.value.log


@pytest.mark.qnn
@pytest.mark.slow
def test_xs_fp16_end_to_end(host_sdk, tmp_path, cli):
    """SwiftFormer-XS through the CLI to qnn-fp16 (SM8650), validated on the simulator (~7 s per image)."""
    t = time.perf_counter()
    code, out, err = cli(
        "export", "swiftformer-xs", "--opt", "layer_scale_init_value=1.0", "-t", "qnn-fp16", "--soc", "SM8650",
        "--qnn-sdk", str(host_sdk.root), "--images", "4", "--out", str(tmp_path),
    )
    assert code == 0, err
    m = read_manifest(tmp_path / "swiftformer-xs-qnn-fp16")
    print(f"[qnn] XS fp16: {time.perf_counter() - t:.1f} s total, lower {m.target_options['seconds_lower']} s, "
          f"{m.file_bytes} B, cosine_min {m.parity.cosine_min:.7f}", file=sys.stderr)
    assert m.delegation.subgraphs == 1 and m.delegation.fallback_nodes == 0
    assert m.parity.passed and m.parity.cosine_min >= 0.9999 and m.parity.top1_agree == 1.0
    assert 5e6 < m.file_bytes < 12e6


def test_no_qualcomm_binary_next_to_the_tests():
    here = Path(__file__).resolve().parent
    assert [p for p in here.rglob("*") if p.suffix == ".so" or ".so." in p.name] == []
    assert os.path.basename(__file__) == "test_qnn_targets.py"
