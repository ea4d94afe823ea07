"""Arm kernels under QEMU (edge_export/arm): the tiny model's .tflite files on LiteRT's aarch64 build against the
host's run of the same file, and the failure paths of provisioning and running.

The runtime is provisioned before the suite (`edge-export arm setup`, a make target); `setup()` here is then a
no-op. Each guest run takes about a second and a half."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge_export.arm import EMULATED, load_env, run_tflite, setup
from edge_export.arm import provision as prov
from edge_export.arm import run as arm_run
from edge_export.arm.smoke import parity, random_inputs, run_host
from edge_export.errors import EdgeExportError

NOT_SET_UP = "Arm runtime not set up: run `edge-export arm setup`"


@pytest.fixture(scope="module")
def arm_env():
    return setup()


def _model(tflite, target: str) -> Path:
    return tflite[target] / "model.tflite"


@pytest.mark.parametrize("target, bar", [("tflite-fp32", 0.999), ("tflite-int8", 0.99),
                                         ("tflite-dynamic-int8", 0.99)])
def test_tiny_tflite_on_cortex_a76_matches_the_host(arm_env, tflite, target, bar, record_property):
    model = _model(tflite, target)
    inputs = random_inputs(model)
    run = run_tflite(arm_env, model, inputs, cpu="cortex-a76")
    host = run_host(model, inputs)
    assert len(run.outputs) == len(host)
    p = parity(run.outputs[0], host[0])
    record_property("parity", p)
    print(f"{target} cortex-a76 vs host: {p}")
    assert p["cosine"] >= bar, p
    # where the numbers came from: the CPU level the kernels saw, XNNPACK, and emulated (not device) times
    rec = run.record()
    assert rec["arch"] == "arm64" and rec["cpu"] == "cortex-a76" and rec["feature_level"] == "armv8.2-dotprod-fp16"
    assert rec["reliable"] and {"asimddp", "fphp"} <= set(rec["features"]) and "sve" not in rec["features"]
    assert rec["kernels"] == "xnnpack" and rec["delegate_partitions"] >= 1
    assert rec["timings"]["label"] == EMULATED == "emulated: relative cost only"
    outputs, timings = run  # the (outputs, timings) form
    assert timings["median_s"] > 0 and outputs[0].shape == host[0].shape


def test_default_run_is_xnnpack_and_builtin_is_not(arm_env, tflite):
    """The default run really goes through XNNPACK: its partitions are DELEGATE nodes that the builtin-only
    resolver does not create, and both agree with each other on Arm."""
    model = _model(tflite, "tflite-fp32")
    inputs = random_inputs(model)
    xnn = run_tflite(arm_env, model, inputs, kernels="xnnpack")
    builtin = run_tflite(arm_env, model, inputs, kernels="builtin")
    assert xnn.kernels == "xnnpack" and xnn.delegate_partitions >= 1
    assert builtin.kernels == "builtin" and builtin.delegate_partitions == 0
    assert parity(xnn.outputs[0], builtin.outputs[0])["cosine"] >= 0.999


def test_sme_level_is_reported_unreliable(arm_env, tflite):
    run = run_tflite(arm_env, _model(tflite, "tflite-int8"), random_inputs(_model(tflite, "tflite-int8")), cpu="max")
    assert run.level == "armv9-sme" and not run.reliable and "unreliable" in run.note
    assert "sme" in run.features


def test_unknown_cpu_is_one_line_naming_the_choices(arm_env, tflite):
    with pytest.raises(EdgeExportError) as e:
        run_tflite(arm_env, _model(tflite, "tflite-fp32"), [], cpu="cortex-a99")
    msg = str(e.value)
    assert "\n" not in msg and "cortex-a99" in msg and "cortex-a76" in msg and "neoverse-n1" in msg


def test_not_set_up_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(EdgeExportError) as e:
        load_env(tmp_path / "nothing")
    assert str(e.value) == NOT_SET_UP
    monkeypatch.setenv(prov.ENV_HOME, str(tmp_path / "elsewhere"))
    assert prov.default_home() == tmp_path / "elsewhere"
    with pytest.raises(EdgeExportError) as e:
        load_env()
    assert str(e.value) == NOT_SET_UP


def _fake_env(root: Path, **stamp_changes) -> Path:
    """A folder with a stamp and the files a complete runtime has (empty): enough for the completeness check."""
    for rel in ("bin/qemu-aarch64-static", f"sysroot/{prov.PYTHON}", "site/ai_edge_litert/interpreter.py",
                "site/numpy/__init__.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).touch()
    stamp = {"format": prov.FORMAT, "complete": True, "host": prov.host_versions(),
             "qemu_path": "bin/qemu-aarch64-static", "versions": {"qemu": "7.2"}, **stamp_changes}
    (root / prov.STAMP).write_text(json.dumps(stamp))
    return root


def test_a_half_provisioned_folder_is_not_complete(tmp_path):
    root = _fake_env(tmp_path / "arm64")
    assert load_env(root).root == root  # the complete fake passes the check ...
    (root / prov.STAMP).unlink()  # ... without its stamp (written last) it is not set up
    with pytest.raises(EdgeExportError, match="^Arm runtime not set up: run `edge-export arm setup`$"):
        load_env(root)
    root = _fake_env(tmp_path / "lost-python")
    (root / "sysroot" / prov.PYTHON).unlink()
    with pytest.raises(EdgeExportError, match=r"not set up: run `edge-export arm setup` again \(.*python3.11 is missing"):
        load_env(root)
    other = _fake_env(tmp_path / "other-litert", host={"ai-edge-litert": "0.0.1", "numpy": "1.0"})
    with pytest.raises(EdgeExportError, match="made for ai-edge-litert/numpy"):
        load_env(other)
    unfinished = _fake_env(tmp_path / "unfinished", complete=False)
    with pytest.raises(EdgeExportError, match="not set up"):
        load_env(unfinished)


def test_a_complete_folder_is_reused_without_work(tmp_path, monkeypatch):
    root = _fake_env(tmp_path / "arm64")
    monkeypatch.setattr(prov, "_provision_into", lambda *a: pytest.fail("provisioned again"))
    assert setup(root).root == root


def test_a_failed_setup_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    def half_done(tmp: Path, say):
        (tmp / "sysroot/usr/bin").mkdir(parents=True)
        (tmp / "sysroot/usr/bin/python3.11").touch()
        raise EdgeExportError("apt-get download failed: simulated")

    monkeypatch.setattr(prov, "_provision_into", half_done)
    root = tmp_path / "arm64"
    with pytest.raises(EdgeExportError, match="simulated"):
        setup(root)
    assert not root.exists() and not list(tmp_path.glob(".arm64.tmp-*"))
    with pytest.raises(EdgeExportError, match="not set up"):
        load_env(root)


def test_a_guest_crash_names_the_signal(arm_env, tflite, tmp_path, monkeypatch):
    """A guest killed by a signal under QEMU (which re-raises it on itself) is one line naming the signal."""
    crasher = tmp_path / "crash.py"
    crasher.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setattr(arm_run, "GUEST", crasher)
    with pytest.raises(EdgeExportError) as e:
        run_tflite(arm_env, _model(tflite, "tflite-fp32"), [np.zeros((1,), np.float32)])
    msg = str(e.value)
    assert "\n" not in msg and "SIGSEGV" in msg and "cortex-a76" in msg


def test_a_refused_mount_namespace_is_one_line_with_the_fix():
    cpu = arm_run.get_cpu("cortex-a76")
    for rc, stderr in ((1, "unshare: unshare failed: Operation not permitted\n"),
                       (arm_run._MOUNT_FAILED, "mount: /proc/cpuinfo: permission denied.\n")):
        proc = subprocess.CompletedProcess([], rc, "", stderr)
        with pytest.raises(EdgeExportError) as e:
            arm_run._check_exit(proc, cpu)
        msg = str(e.value)
        assert "\n" not in msg and "mount namespace" in msg and "run as root" in msg


def test_cli_run_and_bad_input(arm_env, tflite, cli, monkeypatch):
    model = str(_model(tflite, "tflite-int8"))
    monkeypatch.setenv(prov.ENV_HOME, str(arm_env.root))
    rc, out, err = cli("arm", "run", model, "--cpu", "neoverse-n1")
    assert rc == 0, err
    assert "cosine" in out and "emulated: relative cost only" in out and "armv8.2-dotprod-fp16" in out
    rc, out, err = cli("arm", "run", model, "--cpu", "bogus")
    assert rc == 2 and err.strip().count("\n") == 0 and "unknown --cpu 'bogus'" in err
    monkeypatch.setenv(prov.ENV_HOME, "/nonexistent/arm64")
    rc, out, err = cli("arm", "run", model)
    assert rc == 2 and err.strip() == f"error: {NOT_SET_UP}"
