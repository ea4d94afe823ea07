"""Arm kernels under QEMU (edge_export/arm): the tiny model's .tflite files on LiteRT's aarch64 build against the
host's run of the same file, setup's SMOPA check (the SME level's reliability), and the failure paths of
provisioning and running.

The runtime is provisioned before the suite (`edge-export arm setup`, a make target); `setup()` here is then a
no-op. Each guest run takes about a second and a half."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge_export.arm import EMULATED, get_cpu, load_env, run_tflite, setup, smopa_check, with_qemu
from edge_export.arm import provision as prov
from edge_export.arm import run as arm_run
from edge_export.arm import sme
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


def test_setup_checked_smopa_under_its_qemu_and_it_passed(arm_env):
    """The stamp holds the verdict of one SMOPA per za.s tile under the provisioned QEMU (pinned 10.0.x from
    Debian trixie unless a QEMU >= 9.0 is on PATH)."""
    stamp = json.loads((arm_env.root / prov.STAMP).read_text())
    check = stamp["sme_check"]
    print(f"QEMU {arm_env.versions['qemu']} ({stamp['qemu_source']}): {sme.describe(check)}")
    assert check == arm_env.sme_check and check["qemu"] == arm_env.versions["qemu"] == stamp["versions"]["qemu"]
    assert prov.qemu_release(check["qemu"]) >= prov.QEMU_MIN
    if stamp["qemu_source"].startswith("Debian"):
        assert stamp["qemu_path"] == f"bin/{prov.QEMU}" and stamp["qemu_source"].startswith(
            f"Debian {prov.QEMU_SUITE} {prov.QEMU_PACKAGE} 1:{prov.QEMU_SERIES}.")
    assert check["passed"] and check["wrong"] == 0 and check["of"] >= 4 * 16 and check["svl_bits"] >= 128
    assert set(check["tiles"]) == {"za0.s", "za1.s", "za2.s", "za3.s"}
    assert "sme" in stamp["cpus"]["max"]["features"] and "sme_i8i32" in stamp["cpus"]["max"]["features"]
    assert "sme" not in stamp["cpus"]["max-nosme"]["features"]
    # the check itself, again: seconds, and the same verdict
    again = smopa_check(arm_env)
    assert again["passed"] and again["tiles"] == check["tiles"] and again["seconds"] < 60


def test_sme_level_matches_the_host_and_is_reliable(arm_env, tflite):
    """The tiny model's int8 file on -cpu max (XNNPACK's SME int8 kernels, SMOPA) agrees with x86: QEMU 7.2 gave
    garbage here (QEMU issue #2083); the SMOPA check passed, so the level is held to the bar like any other."""
    model = _model(tflite, "tflite-int8")
    inputs = random_inputs(model)
    run = run_tflite(arm_env, model, inputs, cpu="max")
    p = parity(run.outputs[0], run_host(model, inputs)[0])
    print(f"tflite-int8 max ({run.level}, {arm_env.versions['qemu']}) vs host: {p}")
    assert p["cosine"] >= 0.99 and p["argmax_match"], p
    assert run.reliable and run.level in ("armv9-sme", "armv9-sme2") and "sme" in run.features
    assert "0 of" in run.note and arm_env.versions["qemu"] in run.note and run.kernels == "xnnpack"
    rec = run.record()
    assert rec["reliable"] and rec["versions"]["qemu"] == arm_env.versions["qemu"]


def _qemu72_smopa(want: np.ndarray) -> np.ndarray:
    """What QEMU 7.2.22 writes for SMOPA za<t>.s (recorded from it; QEMU issue #2083): only even rows, and their odd
    columns hold the next row's result; odd rows keep the zeroed accumulator. 48 of 64 wrong at SVL 256 bit."""
    got = np.zeros_like(want)
    for i in range(0, want.shape[0], 2):
        for j in range(want.shape[1]):
            got[i, j] = want[i + j % 2, j]
    return got


def _forged_qemu(tmp_path: Path, svl_bytes: int = 32) -> Path:
    """A 'QEMU' that answers the guest's SMOPA job with what QEMU 7.2.22 computes (the job folder is its last
    argument, where the guest writes result.json)."""
    a, b = sme.vectors()
    bad = _qemu72_smopa(sme.expected(a, b, svl_bytes))
    (tmp_path / "result72.json").write_text(json.dumps({"svl_bytes": svl_bytes, "tiles": [bad.tolist()] * 4}))
    qemu = tmp_path / "qemu-aarch64"
    qemu.write_text(f'#!/bin/sh\nfor a; do job="$a"; done\ncp "{tmp_path / "result72.json"}" "$job/result.json"\n')
    qemu.chmod(0o755)
    return qemu


def test_a_qemu_that_fails_the_smopa_check_keeps_the_sme_level_unreliable(arm_env, tflite, tmp_path):
    """The verdict decides, not a version string: a QEMU whose SMOPA gives QEMU 7.2's answer fails the check
    (through the same launcher setup uses), and `max` is then unreliable, its note naming the issue and the QEMU."""
    forged = dataclasses.replace(arm_env, qemu=_forged_qemu(tmp_path),
                                 versions={**arm_env.versions, "qemu": "7.2.22 (forged)"})
    check = smopa_check(forged)
    assert not check["passed"] and (check["wrong"], check["of"]) == (192, 256)
    assert all(t == {"wrong": 48, "of": 64} for t in check["tiles"].values())
    bad = dataclasses.replace(forged, sme_check=check)
    cpu = get_cpu("max", bad)
    assert not cpu.reliable and "QEMU issue #2083" in cpu.note and "7.2.22 (forged)" in cpu.note
    assert "192 of 256" in cpu.note and cpu.note.startswith("unreliable")
    assert all(get_cpu(n, bad).reliable for n in ("cortex-a76", "neoverse-n1", "max-nosve", "max-nosme"))
    # a run carries the level as its runtime has it: the real QEMU computes, the recorded failed verdict marks it
    failed = dataclasses.replace(arm_env, sme_check={**check, "qemu": arm_env.versions["qemu"]})
    model = _model(tflite, "tflite-int8")
    run = run_tflite(failed, model, random_inputs(model), cpu="max")
    assert not run.reliable and "QEMU issue #2083" in run.note and not run.record()["reliable"]
    # a verdict recorded under another QEMU than the runtime's says nothing about this one
    other = dataclasses.replace(arm_env, sme_check={**arm_env.sme_check, "qemu": "10.0.2"})
    assert not get_cpu("max", other).reliable and "not checked under this QEMU" in get_cpu("max", other).note
    # without a runtime the level is not known to be reliable
    assert not get_cpu("max").reliable and get_cpu("max", arm_env).reliable


@pytest.mark.skipif(not os.environ.get("EDGE_EXPORT_OLD_QEMU"),
                    reason="set EDGE_EXPORT_OLD_QEMU to a qemu-aarch64 older than 9.0 (e.g. bookworm's 7.2) to "
                           "run the check on the real buggy binary")
def test_a_real_old_qemu_fails_the_smopa_check(arm_env):
    old = with_qemu(arm_env, os.environ["EDGE_EXPORT_OLD_QEMU"])
    assert prov.qemu_release(old.versions["qemu"]) < (9, 0)
    assert not old.sme_check["passed"] and old.sme_check["wrong"] == 192  # _qemu72_smopa's pattern, SVL 256
    cpu = get_cpu("max", old)
    assert not cpu.reliable and "QEMU issue #2083" in cpu.note and old.versions["qemu"] in cpu.note


def test_an_old_qemu_on_path_is_not_used(tmp_path, monkeypatch):
    """A qemu-aarch64[-static] on PATH is used only from QEMU 9.0 on (SMOPA fixed); older ones are named and skipped."""
    def fake(name: str, version: str) -> None:
        (tmp_path / name).write_text(f"#!/bin/sh\necho 'qemu-aarch64 version {version}'\n")
        (tmp_path / name).chmod(0o755)

    monkeypatch.setenv("PATH", str(tmp_path))
    fake("qemu-aarch64-static", "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)")
    said = []
    assert prov.qemu_on_path(said.append) is None and "older than 9.0" in said[0] and "#2083" in said[0]
    fake("qemu-aarch64", "10.0.2 (Debian 1:10.0.2+ds-1~bpo12+1)")
    assert prov.qemu_on_path() == (tmp_path / "qemu-aarch64", "10.0.2 (Debian 1:10.0.2+ds-1~bpo12+1)")
    assert prov.qemu_release("7.2.22 (Debian)") == (7, 2) and prov.qemu_release("junk") == (0, 0)


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
    for rel in (f"bin/{prov.QEMU}", f"sysroot/{prov.PYTHON}", "site/ai_edge_litert/interpreter.py",
                "site/numpy/__init__.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).touch()
    qemu = "10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)"
    stamp = {"format": prov.FORMAT, "complete": True, "host": prov.host_versions(), "qemu_path": f"bin/{prov.QEMU}",
             "versions": {"qemu": qemu}, "sme_check": {"cpu": "max", "qemu": qemu, "passed": True, "wrong": 0,
                                                     "of": 256, "svl_bits": 256}, **stamp_changes}
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
    old = _fake_env(tmp_path / "format-1", format=1)  # e.g. a QEMU 7.2 folder: rebuilt, not reused
    with pytest.raises(EdgeExportError, match="made by another version of edge-export"):
        load_env(old)


def test_a_stamp_whose_smopa_check_failed_keeps_max_unreliable(tmp_path):
    """The stamp's verdict is what get_cpu(name, env) reads: a recorded failure (QEMU 7.2's numbers) marks `max`
    unreliable with the issue and the QEMU named; the recorded hwcaps decide SME vs SME2."""
    qemu = "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
    failed = {"cpu": "max", "qemu": qemu, "passed": False, "wrong": 192, "of": 256, "svl_bits": 256}
    env = load_env(_fake_env(tmp_path / "failed", versions={"qemu": qemu}, sme_check=failed))
    assert env.sme_check == failed and "failed (192/256 wrong)" in env.describe()
    cpu = get_cpu("max", env)
    assert not cpu.reliable and cpu.level == "armv9-sme" and "#2083" in cpu.note and qemu in cpu.note
    ok = load_env(_fake_env(tmp_path / "ok", cpus={"max": {"features": ["sme", "sme2"]}}))
    cpu = get_cpu("max", ok)
    assert cpu.reliable and cpu.level == "armv9-sme2" and "0 of 256" in cpu.note


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
