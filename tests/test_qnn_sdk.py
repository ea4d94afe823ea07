"""QNN SDK discovery, provisioning and the host (HTP simulator) path.

The error-path tests need nothing and always run. The `qnn` tests provision the host SDK once per
session into $EDGE_EXPORT_QNN_HOME (default ~/.cache/edge-export/qnn-sdk: pip download of
onnxruntime-qnn, ~100 MB, reused afterwards) and skip when it cannot be downloaded or built.
Every QNN load happens in a child process, so a broken SDK can fail a test but not kill pytest.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zipfile
from pathlib import Path

import pytest

from edge_export.errors import EdgeExportError
from edge_export.runtimes.qnn import sdk as qsdk
from edge_export.runtimes.qnn.sdk import (
    ENV_HOME,
    ENV_SDK_ROOT,
    ENV_SHIM_REAL,
    HOST_LIB_SUBDIR,
    MANIFEST_NAME,
    QnnSdk,
    QnnSdkError,
    QnnWorkerError,
    default_sdk_home,
    find_qnn_sdk,
    qnn_subprocess_env,
    run_in_qnn_env,
    validate_qnn_sdk,
)


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg, f"error message is not one line: {msg!r}"
    return msg


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No QNN_SDK_ROOT, and a provisioning home that does not exist."""
    monkeypatch.delenv(ENV_SDK_ROOT, raising=False)
    monkeypatch.setenv(ENV_HOME, str(tmp_path / "no-home"))
    return tmp_path


def _fake_sdk(root: Path, *, version: str | None = "2.37.0.250724", htp_size: int = 2_000_000,
              system: bool = True) -> Path:
    """A QAIRT-shaped tree with sparse placeholder libraries (never loaded by these tests)."""
    lib = root / HOST_LIB_SUBDIR
    lib.mkdir(parents=True)
    with open(lib / "libQnnHtp.so", "wb") as fh:
        fh.truncate(htp_size)
    if system:
        (lib / "libQnnSystem.so").write_bytes(b"\0")
    if version:
        inc = root / "include" / "QNN"
        inc.mkdir(parents=True)
        (inc / "QnnSdkBuildId.h").write_text(f'#define QNN_SDK_BUILD_ID "v{version}_12345"\n')
    return root


# ------------------------------------------------------------------------------------------------
# Discovery and validation: no SDK needed
# ------------------------------------------------------------------------------------------------


def test_qnn_sdk_error_is_a_value_error_and_an_edge_export_error():
    assert issubclass(QnnSdkError, ValueError)
    assert issubclass(QnnSdkError, EdgeExportError)


def test_unset_env_and_nothing_provisioned(clean_env):
    with pytest.raises(QnnSdkError) as info:
        find_qnn_sdk()
    msg = _one_line(info.value)
    assert msg.startswith("QNN SDK not found")
    assert ENV_SDK_ROOT in msg and "edge-export qnn-sdk setup" in msg
    assert "empty" not in msg


def test_empty_env_is_treated_as_unset_and_said(clean_env, monkeypatch):
    monkeypatch.setenv(ENV_SDK_ROOT, "")
    with pytest.raises(QnnSdkError) as info:
        find_qnn_sdk()
    msg = _one_line(info.value)
    assert msg.startswith("QNN SDK not found")
    assert f"{ENV_SDK_ROOT} is set but empty" in msg


def test_empty_env_falls_back_to_the_provisioned_home_with_a_warning(clean_env, monkeypatch, tmp_path):
    home = _fake_sdk(tmp_path / "home")
    monkeypatch.setenv(ENV_HOME, str(home))
    monkeypatch.setenv(ENV_SDK_ROOT, "  ")
    sdk = find_qnn_sdk()
    assert sdk.root == home.resolve()
    assert any("set but empty" in w for w in sdk.warnings)


def test_nonexistent_env_path(clean_env, monkeypatch, tmp_path):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(ENV_SDK_ROOT, str(missing))
    with pytest.raises(QnnSdkError) as info:
        find_qnn_sdk()
    msg = _one_line(info.value)
    assert msg.startswith(f"{ENV_SDK_ROOT}={missing} does not exist")
    assert "QAIRT root" in msg


def test_env_path_is_a_file(clean_env, monkeypatch, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    monkeypatch.setenv(ENV_SDK_ROOT, str(f))
    with pytest.raises(QnnSdkError, match="is not a directory"):
        find_qnn_sdk()


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda r: r.mkdir(), f"has no {HOST_LIB_SUBDIR}/"),
        (lambda r: _fake_sdk(r, system=False), f"has no {HOST_LIB_SUBDIR / 'libQnnSystem.so'}"),
        (lambda r: _fake_sdk(r, htp_size=10), "not a QNN HTP backend"),
        (lambda r: _fake_sdk(r, version=None), "cannot tell its QAIRT version"),
        (lambda r: _fake_sdk(r, version="3.1.0.250101"), "needs QNN 2.x"),
    ],
    ids=["no-lib-dir", "no-libQnnSystem", "tiny-libQnnHtp", "no-version", "qnn-3"],
)
def test_wrong_layouts_give_one_line_errors(clean_env, monkeypatch, tmp_path, make, expected):
    root = tmp_path / "qairt"
    make(root)
    monkeypatch.setenv(ENV_SDK_ROOT, str(root))
    with pytest.raises(QnnSdkError) as info:
        find_qnn_sdk()
    msg = _one_line(info.value)
    assert msg.startswith(f"{ENV_SDK_ROOT}={root}")
    assert expected in msg


def test_explicit_path_wins_over_env(clean_env, monkeypatch, tmp_path):
    good = _fake_sdk(tmp_path / "good")
    monkeypatch.setenv(ENV_SDK_ROOT, str(good))
    with pytest.raises(QnnSdkError) as info:
        find_qnn_sdk(tmp_path / "bad")
    assert _one_line(info.value).startswith(f"QNN SDK path {tmp_path / 'bad'} does not exist")
    assert find_qnn_sdk().root == good.resolve()


def test_user_qairt_install_is_accepted(clean_env, tmp_path):
    sdk = find_qnn_sdk(_fake_sdk(tmp_path / "qairt"))
    assert sdk.qairt_version == "2.37.0.250724"
    assert sdk.provisioned_from == "user QAIRT install"
    assert sdk.uses_compat_shim is False
    assert sdk.lib_dir == sdk.root / HOST_LIB_SUBDIR
    assert sdk.version_tuple == (2, 37, 0)
    assert sdk.warnings == ()


def test_new_layout_qairt_without_shim_warns(clean_env, tmp_path):
    sdk = find_qnn_sdk(_fake_sdk(tmp_path / "qairt", version="2.51.0.260929181845"))
    assert any("14001" in w for w in sdk.warnings)


def test_version_from_the_library_build_id(clean_env, tmp_path):
    root = _fake_sdk(tmp_path / "qairt", version=None)
    with open(root / HOST_LIB_SUBDIR / "libQnnHtp.so", "r+b") as fh:
        fh.seek(1_500_000)
        fh.write(b"\0v2.45.0.251010101010\0")
    assert validate_qnn_sdk(root).qairt_version == "2.45.0.251010101010"


def test_shim_without_real_library_is_rejected(clean_env, tmp_path):
    root = _fake_sdk(tmp_path / "qairt")
    (root / HOST_LIB_SUBDIR / "libQnnHtp.so").write_bytes(b"ELF..." + qsdk.SHIM_MARKER)
    with pytest.raises(QnnSdkError, match="libQnnHtp.real.so"):
        validate_qnn_sdk(root)


def test_unfinished_provisioning_is_rejected(clean_env, monkeypatch, tmp_path):
    home = _fake_sdk(tmp_path / "home")
    (home / MANIFEST_NAME).write_text(json.dumps({"format": 1, "complete": False}))
    monkeypatch.setenv(ENV_HOME, str(home))
    with pytest.raises(QnnSdkError) as info:
        find_qnn_sdk()
    assert "unfinished provisioning" in _one_line(info.value)


def test_manifest_files_are_checked(clean_env, tmp_path):
    home = _fake_sdk(tmp_path / "home")
    (home / MANIFEST_NAME).write_text(json.dumps({
        "format": 1, "complete": True, "qairt_version": "2.51.0.260929181845",
        "provisioned_from": "onnxruntime-qnn 2.7.0", "files": ["lib/onnxruntime_qnn.libs/libc++.so.1"],
    }))
    with pytest.raises(QnnSdkError, match=r"incomplete \(lib/onnxruntime_qnn.libs/libc\+\+.so.1 is missing\)"):
        validate_qnn_sdk(home)


def test_default_home(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_HOME, str(tmp_path / "h"))
    assert default_sdk_home() == tmp_path / "h"
    monkeypatch.setenv(ENV_HOME, "")
    assert default_sdk_home() == Path.home() / ".cache" / "edge-export" / "qnn-sdk"


def test_subprocess_env(tmp_path):
    sdk = QnnSdk(root=tmp_path, lib_dir=tmp_path / HOST_LIB_SUBDIR, qairt_version="2.51.0.1",
                 provisioned_from="test", uses_compat_shim=True)
    env = qnn_subprocess_env(sdk, {"LD_LIBRARY_PATH": "/a:/b", "PATH": "/bin"})
    assert env[ENV_SDK_ROOT] == str(tmp_path)
    assert env["LD_LIBRARY_PATH"].split(os.pathsep) == [str(sdk.lib_dir), "/a", "/b"]
    assert env[ENV_SHIM_REAL] == str(sdk.lib_dir / "libQnnHtp.real.so")
    assert env["PATH"] == "/bin"
    plain = qnn_subprocess_env(QnnSdk(tmp_path, tmp_path / "lib", "2.37.0.1", "user QAIRT install", False),
                               {ENV_SHIM_REAL: "stale"})
    assert ENV_SHIM_REAL not in plain


def test_a_crashing_worker_does_not_take_pytest_down(tmp_path):
    sdk = QnnSdk(root=tmp_path, lib_dir=tmp_path, qairt_version="2.51.0.1", provisioned_from="test",
                 uses_compat_shim=False)
    code = "import sys; print('Error: socModel 0 is bogus', flush=True); import os; os.abort()"
    with pytest.raises(QnnWorkerError) as info:
        run_in_qnn_env([sys.executable, "-c", code], sdk, tmp_path, what="test worker")
    msg = _one_line(info.value)
    assert "test worker was killed by SIGABRT" in msg and "socModel 0 is bogus" in msg
    assert info.value.returncode == -6

    with pytest.raises(QnnWorkerError, match=r"failed \(exit 3\)"):
        run_in_qnn_env([sys.executable, "-c", "raise SystemExit(3)"], sdk, tmp_path)
    with pytest.raises(QnnWorkerError, match="timed out"):
        run_in_qnn_env([sys.executable, "-c", "import time; time.sleep(30)"], sdk, tmp_path, timeout=1)
    ok = run_in_qnn_env([sys.executable, "-c", "import os; print(os.environ['QNN_SDK_ROOT'])"], sdk, tmp_path)
    assert ok.stdout.strip() == str(tmp_path)


def test_lowering_rejects_bad_arguments_before_any_work(tmp_path):
    pytest.importorskip("executorch")
    import torch

    from edge_export.runtimes.qnn.lowering import check_chipset, lower_to_qnn

    assert check_chipset("sm8650") == "SM8650"
    with pytest.raises(EdgeExportError, match="unknown QNN chipset 'SM1234': choose from"):
        check_chipset("SM1234")
    m = torch.nn.Conv2d(3, 4, 1)
    x = torch.zeros(1, 3, 4, 4)
    with pytest.raises(EdgeExportError, match="unknown QNN precision"):
        lower_to_qnn(m, (x,), tmp_path / "m.pte", precision="int4")
    with pytest.raises(EdgeExportError, match="needs calibration inputs"):
        lower_to_qnn(m, (x,), tmp_path / "m.pte", precision="int8")


def test_shim_source_compiles_cleanly(tmp_path):
    from edge_export.runtimes.qnn import provision

    try:
        provision.find_c_compiler()
    except QnnSdkError:
        pytest.skip("no C compiler")
    out = tmp_path / "libQnnHtp.so"
    provision.build_shim(out)
    assert qsdk._is_shim(out)
    assert out.stat().st_size < 100_000


def test_provisioning_refuses_a_bad_wheel(tmp_path):
    from edge_export.runtimes.qnn.provision import setup_host_sdk

    bogus = tmp_path / "onnxruntime_qnn-9.9.9-py3-none-any.whl"
    bogus.write_text("not a zip")
    with pytest.raises(QnnSdkError, match="is not a wheel"):
        setup_host_sdk(tmp_path / "sdk", wheel=bogus)
    with zipfile.ZipFile(bogus, "w") as zf:
        zf.writestr("onnxruntime_qnn/__init__.py", "")
    with pytest.raises(QnnSdkError) as info:
        setup_host_sdk(tmp_path / "sdk", wheel=bogus)
    assert "unknown wheel layout" in _one_line(info.value)
    assert not (tmp_path / "sdk").exists()  # nothing half-written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sdk.tmp")] == []


# ------------------------------------------------------------------------------------------------
# Provisioned host SDK: real libraries, HTP simulator
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def provisioned_sdk(host_sdk) -> QnnSdk:
    return host_sdk


def _tiny_model():
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return self.conv2(torch.relu(self.conv1(x))).mean(dim=(2, 3))

    torch.manual_seed(0)
    model = Tiny().eval()
    g = torch.Generator().manual_seed(1)
    sample = (torch.randn(1, 3, 16, 16, generator=g),)
    calib = [(torch.randn(1, 3, 16, 16, generator=g),) for _ in range(8)]
    tests = [(torch.randn(1, 3, 16, 16, generator=g),) for _ in range(3)]
    return model, sample, calib, tests


def _cos(a, b) -> float:
    import torch

    return torch.nn.functional.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0).item()


@pytest.mark.qnn
def test_provisioned_sdk_layout(provisioned_sdk):
    sdk = provisioned_sdk
    manifest = json.loads((sdk.root / MANIFEST_NAME).read_text())
    assert manifest["complete"] and sdk.provisioned_from.startswith("onnxruntime-qnn ")
    assert sdk.version_tuple[:1] == (2,) and 40 <= sdk.version_tuple[1] < 60
    assert sdk.uses_compat_shim, "QAIRT 2.4x/2.5x from the wheel is expected to need the shim"
    assert manifest["self_test"]["raw"]["device_create_rc"] == 14001
    assert manifest["self_test"]["shim"]["device_create_rc"] == 0
    assert (sdk.lib_dir / "libQnnHtp.real.so").stat().st_size > 10_000_000
    # ExecuTorch's way in: QNN_SDK_ROOT -> the same SDK, and provisioning again is a no-op.
    assert find_qnn_sdk(environ={ENV_SDK_ROOT: str(sdk.root)}) == sdk
    from edge_export.runtimes.qnn.provision import setup_host_sdk

    t = time.perf_counter()
    assert setup_host_sdk(sdk.root) == sdk
    assert time.perf_counter() - t < 5


CHIPSETS = ("SM8650", "SM8550")
PRECISIONS = ("fp16", "int8")


@pytest.fixture(scope="module")
def tiny_lowered(provisioned_sdk, tmp_path_factory):
    """The tiny model lowered for 2 chipsets x fp16/int8 and run on the simulator, in ONE child process."""
    from edge_export.runtimes.qnn.lowering import QnnJob, lower_to_qnn_many

    model, sample, calib, tests = _tiny_model()
    out = tmp_path_factory.mktemp("qnn-tiny")
    jobs = [QnnJob(c, p, out / f"tiny_{c}_{p}.pte") for c in CHIPSETS for p in PRECISIONS]
    t = time.perf_counter()
    results = lower_to_qnn_many(model, sample, jobs, sdk=provisioned_sdk, calibration=calib,
                                reference_inputs=tests, verify_inputs=tests, timeout=1200)
    wall = time.perf_counter() - t
    for r in results:
        print(f"[qnn] {r.chipset} {r.precision}: lower {r.seconds_lower:.1f} s, quantize {r.seconds_quantize}, "
              f"{r.size_bytes} B, run {r.run.seconds}", file=sys.stderr)
    print(f"[qnn] one child for {len(jobs)} jobs: {wall:.1f} s", file=sys.stderr)
    return model, tests, out, {(r.chipset, r.precision): r for r in results}


@pytest.mark.qnn
@pytest.mark.parametrize("chipset", CHIPSETS)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_tiny_model_lowers_and_runs_on_the_simulator(tiny_lowered, chipset, precision):
    import torch

    model, tests, out_dir, results = tiny_lowered
    result = results[(chipset, precision)]
    assert result.pte_path.is_file() and result.size_bytes == result.pte_path.stat().st_size > 1000
    assert result.subgraphs == 1 and result.fallback_ops == {}
    assert result.delegated_ops.get("aten.convolution.default") == 2
    assert result.htp_arch == {"SM8650": "v75", "SM8550": "v73"}[chipset]
    assert (result.seconds_quantize is not None) == (precision == "int8")
    assert not (out_dir / "forward_schematic.bin").exists()  # the child ran in its own directory

    with torch.no_grad():
        eager = [model(*t) for t in tests]
    outs = [o[0] for o in result.run.outputs]
    assert all(o.shape == e.shape for o, e in zip(outs, eager))
    if precision == "fp16":
        assert result.fake_quant_outputs is None
        for o, e in zip(outs, eager):
            assert (o - e).abs().max().item() < 1e-2
            assert _cos(o, e) > 0.9999
    else:
        fq = [f[0] for f in result.fake_quant_outputs]
        for o, e, f in zip(outs, eager, fq):
            assert _cos(o, e) > 0.99
            # the simulator follows the fake-quantized model more closely than the float one
            assert (o - f).abs().max().item() <= (o - e).abs().max().item() + 1e-6


@pytest.mark.qnn
def test_standalone_run_and_shim_off_failure(provisioned_sdk, tiny_lowered):
    """run_qnn_pte in its own child; and without the shim's rewrite, the same run fails cleanly."""
    import torch

    from edge_export.runtimes.qnn import sdk as sdk_module
    from edge_export.runtimes.qnn.lowering import run_qnn_pte

    model, tests, _, results = tiny_lowered
    pte = results[("SM8650", "fp16")].pte_path
    run = run_qnn_pte(pte, tests[:1], sdk=provisioned_sdk, timeout=600)
    assert len(run.outputs) == 1 and len(run.seconds) == 1
    with torch.no_grad():
        assert (run.outputs[0][0] - model(*tests[0])).abs().max().item() < 1e-2

    # The shim is what makes QAIRT 2.5x work with ExecuTorch 1.5.1: with its rewrite switched off,
    # device creation fails with 14001 inside the child and the parent gets a one-line QnnWorkerError.
    if not provisioned_sdk.uses_compat_shim:
        pytest.skip("no shim in this SDK")
    real_env = sdk_module.qnn_subprocess_env

    def env_without_rewrite(sdk, base=None):
        env = real_env(sdk, base)
        env["EDGE_EXPORT_QNN_SHIM_DISABLE"] = "1"
        return env

    mp = pytest.MonkeyPatch()
    mp.setattr(sdk_module, "qnn_subprocess_env", env_without_rewrite)
    try:
        with pytest.raises(QnnWorkerError) as info:
            run_qnn_pte(pte, tests[:1], sdk=provisioned_sdk, timeout=600)
    finally:
        mp.undo()
    _one_line(info.value)
    assert "14001" in info.value.log


def test_no_qualcomm_binary_is_tracked_in_the_repo():
    """Qualcomm's libraries live in the user's cache only."""
    repo = Path(__file__).resolve().parents[1]
    offenders = [p for p in (repo / "edge_export").rglob("*") if p.suffix == ".so" or ".so." in p.name]
    assert offenders == []
