"""Arm kernels in the product's commands: `validate --arch arm64 [--cpu]` and `profile --device qemu-arm64[:CPU]` on
the tiny model's .tflite artifacts (LiteRT's aarch64 build under QEMU, edge_export/arm), and their bad input.

The runtime is provisioned before the suite (`edge-export arm setup`); setup() here is then a no-op. Each test
works on its own copy of the session's artifacts: validate writes the manifest."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from edge_export.arm import EMULATED, setup
from edge_export.arm import provision as prov
from edge_export.arm import run as arm_run
from edge_export.arm.validate import PTE_NOT_COVERED
from edge_export.artifacts import read_manifest
from edge_export.errors import EdgeExportError, ValidationFailed
from edge_export.profile.schema import load_profile


@pytest.fixture(scope="module")
def arm_env():
    return setup()


@pytest.fixture
def art(tflite, tmp_path, arm_env, monkeypatch):
    """A copy of one of the session's .tflite artifacts (request.param-free: call with the target)."""
    monkeypatch.setenv(prov.ENV_HOME, str(arm_env.root))  # the CLI's subprocess finds the same runtime

    def copy(target: str) -> Path:
        return Path(shutil.copytree(tflite[target], tmp_path / target))

    return copy


@pytest.mark.parametrize("target, cpu", [("tflite-fp32", None), ("tflite-int8", "neoverse-n1")])
def test_validate_on_arm_records_parity_beside_the_host_parity(art, cli, target, cpu):
    d = art(target)
    before = read_manifest(d)
    rc, out, err = cli("validate", str(d), "--arch", "arm64", *(["--cpu", cpu] if cpu else []))
    assert rc == 0, err
    cpu = cpu or "cortex-a76"
    m = read_manifest(d)
    assert m.parity == before.parity and list(m.arm_parity) == [cpu]  # the host's parity is left as it was
    p = m.arm_parity[cpu]
    print(f"{target} on {cpu}: cosine_min {p.cosine_min:.7f} (host {m.parity.cosine_min:.7f}), vs host kernels "
          f"{p.vs_host['cosine_min']:.7f}, emulated invoke {p.emulated_invoke_ms:.1f} ms")
    # the same images and bar as the host's validation
    assert (p.images, p.image_source, p.reference, p.cosine_threshold) == (
        m.parity.images, m.parity.image_source, m.parity.reference, m.parity.cosine_threshold)
    assert p.passed and p.cosine_min >= p.cosine_threshold and p.top1_agree >= 0.75
    assert abs(p.cosine_min - m.parity.cosine_min) < 1e-3  # Arm kernels compute what the host's compute ...
    assert p.vs_host["cosine_min"] > 0.9999 and p.vs_host["top1_agree"] == 1.0  # ... on the same file
    assert (p.arch, p.cpu, p.qemu_cpu, p.feature_level, p.reliable) == ("arm64", cpu, cpu, "armv8.2-dotprod-fp16", True)
    assert {"asimddp", "fphp"} <= set(p.features) and "sve" not in p.features
    assert p.kernels == "xnnpack" and p.delegate_partitions >= 1 and p.emulated_invoke_ms > 0
    assert p.versions["ai-edge-litert"] and prov.qemu_release(p.versions["qemu"]) >= prov.QEMU_MIN
    assert EMULATED in out and "OK against PyTorch" in out


def test_the_sme_level_checked_at_setup_is_held_to_the_bar(art, cli, arm_env):
    """max (SME) on int8: XNNPACK's SME int8 kernels (SMOPA) were garbage under QEMU 7.2 (QEMU issue #2083); under
    the provisioned QEMU setup's SMOPA check passed, so the level is reliable and agrees with PyTorch and x86."""
    d = art("tflite-int8")
    rc, out, err = cli("validate", str(d), "--arch", "arm64", "--cpu", "max", "--images", "4")
    assert rc == 0, err
    m = read_manifest(d)
    p = m.arm_parity["max"]
    print(f"tflite-int8 on max (SME, QEMU {p.versions['qemu']}): cosine_min {p.cosine_min:.6f} (host "
          f"{m.parity.cosine_min:.6f}), vs host {p.vs_host['cosine_min']:.6f}")
    assert arm_env.sme_check["passed"] and p.versions["qemu"] == arm_env.versions["qemu"]
    assert p.reliable and "UNRELIABLE" not in out and p.feature_level in ("armv9-sme", "armv9-sme2")
    assert "sme" in p.features and p.passed and p.cosine_min >= p.cosine_threshold
    assert p.vs_host["cosine_min"] >= 0.99 and p.vs_host["top1_agree"] == 1.0
    assert abs(p.cosine_min - m.parity.cosine_min) < 1e-3


def test_an_unreliable_level_reports_its_numbers_and_does_not_fail(art, arm_env, monkeypatch):
    """A runtime whose SMOPA check failed (QEMU 7.2's numbers, recorded): max's numbers are kept, marked unreliable
    with the reason, and below the bar it does not fail."""
    import edge_export.targets as targets
    from edge_export.arm.validate import validate_on_arm

    failed = {"cpu": "max", "qemu": arm_env.versions["qemu"], "passed": False, "wrong": 192, "of": 256,
              "svl_bits": 256}
    monkeypatch.setattr(prov, "load_env", lambda *a: dataclasses.replace(arm_env, sme_check=failed))
    real = targets.get_target
    monkeypatch.setattr(targets, "get_target", lambda name: type("Strict", (), {"cosine_threshold": 1.000001})
                        if name == "tflite-int8" else real(name))
    d = art("tflite-int8")
    p = validate_on_arm(d, "arm64", "max", images=2)  # below the bar, not raised
    assert not p.passed and not p.reliable and p.note.startswith("unreliable") and "QEMU issue #2083" in p.note
    assert read_manifest(d).arm_parity["max"] == p and p.feature_level == "armv9-sme" and "sme" in p.features


def test_a_missed_bar_on_a_reliable_level_fails_like_the_host(art, monkeypatch):
    """Below the bar: the numbers are written (as host validation does) and ValidationFailed (exit 1) raised."""
    import edge_export.targets as targets
    from edge_export.validate import validate_artifact

    d = art("tflite-int8")
    real = targets.get_target
    monkeypatch.setattr(targets, "get_target", lambda name: type("Strict", (), {"cosine_threshold": 1.000001})
                        if name == "tflite-int8" else real(name))
    with pytest.raises(ValidationFailed) as e:
        validate_artifact(d, images=2, arch="arm64")
    assert e.value.exit_code == 1 and "on Arm kernels (cortex-a76" in str(e.value) and "\n" not in str(e.value)
    p = read_manifest(d).arm_parity["cortex-a76"]
    assert not p.passed and p.cosine_threshold == 1.000001


def test_profile_on_arm_keeps_the_host_op_sequence_and_labels_emulated_times(art, cli):
    d = art("tflite-int8")
    rc, out, err = cli("profile", str(d), "--device", "qemu-arm64", "--runs", "3", "--warmup", "1")
    assert rc == 0, err
    path = d / "profile-qemu-arm64_cortex-a76.json"
    assert f"wrote {path}" in out.replace("\n", "") and EMULATED in out
    arm = load_profile(path)
    rc, _, err = cli("profile", str(d), "--runs", "3", "--warmup", "1")
    assert rc == 0, err
    host = load_profile(d / "profile-host.json")
    pv = arm.provenance
    assert pv.where == "qemu-arm64:cortex-a76" and pv.simulator and pv.collector == "litert-capi-qemu-arm64"
    assert pv.device["timing"] == EMULATED and EMULATED in pv.device["model"] and pv.options["timing"] == EMULATED
    assert pv.device["feature_level"] == "armv8.2-dotprod-fp16" and pv.device["reliable"] == "true"
    assert "asimddp" in pv.device["hwcaps"].split() and arm.notes[0].startswith(EMULATED)
    assert arm.peak_rss_mb is None  # QEMU's RSS, not the runtime's: left out
    # the Arm build's real op order and counts, attributed as on the host
    assert len(arm.rows) == len(host.rows) > 20
    assert [(r.kind, r.module_path, r.attribution, r.delegate) for r in arm.rows] == \
        [(r.kind, r.module_path, r.attribution, r.delegate) for r in host.rows]
    differ = [(h.name, a.name) for h, a in zip(host.rows, arm.rows) if h.name != a.name]
    print(f"{len(arm.rows)} rows; operator names that differ between x86 and Arm: {differ}")
    assert len(differ) <= len(arm.rows) // 10  # micro-kernel variants (e.g. QD8 vs QP8 GEMMs), not other ops
    assert arm.attributed_fraction() > 0.9


def _one_line_exit_2(rc, err, *needles):
    assert rc == 2, err
    assert err.strip().count("\n") == 0 and err.startswith("error: "), err
    for n in needles:
        assert n in err, err


def test_bad_input_is_one_line_and_writes_nothing(art, cli, monkeypatch):
    d = art("tflite-int8")
    manifest = (d / "manifest.json").read_bytes()
    for args, needles in (
        (["validate", str(d), "--arch", "x86_64"], ["unknown --arch 'x86_64'", "arm64"]),
        (["validate", str(d), "--arch", "arm64", "--cpu", "cortex-a99"], ["unknown --cpu 'cortex-a99'", "neoverse-n1"]),
        (["validate", str(d), "--cpu", "neoverse-n1"], ["--arch arm64"]),
        (["profile", str(d), "--device", "qemu-arm64:cortex-a99"], ["cortex-a99", "cortex-a76"]),
    ):
        rc, _, err = cli(*args)
        _one_line_exit_2(rc, err.split("\n", 1)[1] if err.startswith(("validating", "profiling")) else err, *needles)
    # an ExecuTorch artifact (its manifest is enough: the check comes before the program file is read)
    pte = Path(shutil.copytree(d, d.parent / "as-pte"))
    data = json.loads((pte / "manifest.json").read_text())
    data.update(runtime="executorch", target="xnnpack-fp32", program_file="model.pte")
    (pte / "manifest.json").write_text(json.dumps(data))
    pte_manifest = (pte / "manifest.json").read_bytes()
    for args in (["validate", str(pte), "--arch", "arm64"], ["profile", str(pte), "--device", "qemu-arm64"]):
        rc, _, err = cli(*args)
        _one_line_exit_2(rc, err.split("\n", 1)[1], PTE_NOT_COVERED)
    assert (pte / "manifest.json").read_bytes() == pte_manifest and not list(pte.glob("profile-*"))
    # the runtime not set up
    monkeypatch.setenv(prov.ENV_HOME, str(d.parent / "no-arm-runtime"))
    for args in (["validate", str(d), "--arch", "arm64"], ["profile", str(d), "--device", "qemu-arm64:max"]):
        rc, _, err = cli(*args)
        _one_line_exit_2(rc, err.split("\n", 1)[1], "Arm runtime not set up: run `edge-export arm setup`")
    assert (d / "manifest.json").read_bytes() == manifest and not list(d.glob("profile-*"))


def test_a_guest_crash_names_the_signal_and_writes_nothing(art, tmp_path, monkeypatch):
    from edge_export.profile.dispatch import profile_artifact
    from edge_export.validate import validate_artifact

    d = art("tflite-fp32")
    manifest = (d / "manifest.json").read_bytes()
    crasher = tmp_path / "crash.py"
    crasher.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setattr(arm_run, "GUEST", crasher)
    for call in (lambda: validate_artifact(d, images=2, arch="arm64", cpu="neoverse-n1"),
                 lambda: profile_artifact(d, "qemu-arm64", runs=1, warmup=0)):
        with pytest.raises(EdgeExportError) as e:
            call()
        msg = str(e.value)
        assert e.value.exit_code == 2 and "\n" not in msg and "SIGSEGV" in msg, msg
    assert (d / "manifest.json").read_bytes() == manifest and not list(d.glob("profile-*"))
