"""Shared fixtures: artifacts are exported once per session and reused by every test that reads them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("USE_TF", "0")
sys.path.insert(0, str(Path(__file__).parent))  # tests.helpers importable as `helpers`

TINY = "swiftformer-test"
TINY_OPTS = {"layer_scale_init_value": 1.0}


LITERT = ["tflite-fp32", "tflite-int8", "tflite-dynamic-int8"]


def _export(out, model=TINY, targets=LITERT, **kw):
    from edge_export.export import ExportRequest, export

    kw.setdefault("model_options", dict(TINY_OPTS))
    return export(ExportRequest(model=model, targets=list(targets), out_dir=out, **kw))


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory) -> dict[str, Path]:
    """swiftformer-test (64 px) exported to both XNNPACK targets, validated on 8 photographs."""
    from edge_export.export import ExportRequest, export

    out = tmp_path_factory.mktemp("tiny-artifacts")
    paths = export(
        ExportRequest(
            model=TINY, targets=["xnnpack-fp32", "xnnpack-int8"], out_dir=out, model_options=dict(TINY_OPTS),
            calib=8, target_options={"observer": "minmax"},
        )
    )
    return {p.name.removeprefix(f"{TINY}-"): p for p in paths}


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """swiftformer-test at 32 px trained on scikit-learn's digits (digits.py), saved as an original-format .pth,
    with 24 held-out images in a flat folder and the whole held-out split as an ImageFolder."""
    from types import SimpleNamespace

    import torch
    from digits import train_digits_swiftformer, write_image_folder, write_images

    loaded, test_images, test_labels, acc = train_digits_swiftformer()
    assert acc > 0.8, f"the digits model did not train (accuracy {acc:.2f})"
    root = tmp_path_factory.mktemp("digits")
    ckpt = root / "digits_swiftformer.pth"
    torch.save({"model": loaded.module.state_dict()}, ckpt)  # original-repository format
    return SimpleNamespace(
        loaded=loaded, checkpoint=ckpt, image_dir=write_images(test_images[:24], root / "images"),
        folder=write_image_folder(test_images, test_labels, root / "heldout"),
        test_images=test_images, test_labels=test_labels, accuracy=acc,
    )


@pytest.fixture(scope="session")
def tflite(tmp_path_factory) -> dict:
    """The three litert-torch targets from one export call (one fp32 conversion), NHWC by default.

    The attention's weights stay float here: on this random config int8 ones (tflite-int8's default, weight-only)
    take its cosine from 0.980 to 0.972, under the bar; on the digits-trained model they cost nothing (top-1
    93.95 % either way, README "Tolerances"), and tests/test_sensitivity.py exports that model with the default."""
    paths = _export(tmp_path_factory.mktemp("tflite"), target_options={"kept_float_weights": "float"})
    return {p.name.removeprefix(f"{TINY}-"): p for p in paths}


@pytest.fixture(scope="session")
def tf_route(tmp_path_factory):
    """The TF-native route from the softmax form (what transformers' TFSwiftFormer computes)."""
    (path,) = _export(tmp_path_factory.mktemp("tf-tflite"), model=f"{TINY}-softmax", targets=["tf-tflite-fp32"])
    return path


@pytest.fixture(scope="session")
def host_sdk():
    """The QNN host SDK (`edge-export qnn-sdk setup`), provisioned once; a skip where it cannot be had."""
    from edge_export.runtimes.qnn.provision import setup_host_sdk
    from edge_export.runtimes.qnn.sdk import QnnSdkError, default_sdk_home

    try:
        return setup_host_sdk(default_sdk_home(), progress=lambda m: print(f"[qnn setup] {m}", file=sys.stderr))
    except QnnSdkError as exc:
        msg = str(exc)
        if msg.startswith("`pip download") or msg.startswith("no C compiler"):
            pytest.skip(f"QNN host SDK cannot be provisioned here: {msg}")
        raise


@pytest.fixture(scope="session")
def qnn_tiny(host_sdk, tmp_path_factory) -> dict[str, Path]:
    """swiftformer-test exported to qnn-fp16 + qnn-int8 (SM8650) and qnn-fp16 (SM8550), each validated on 8
    photographs on the simulator. Two export() calls (the soc option is per request)."""
    import time

    from edge_export.artifacts import read_manifest

    out = tmp_path_factory.mktemp("qnn-tiny")
    arts: dict[str, Path] = {}
    for soc, targets in (("SM8650", ["qnn-fp16", "qnn-int8"]), ("SM8550", ["qnn-fp16"])):
        t = time.perf_counter()
        paths = _export(out / soc, targets=targets, calib=32, target_options={"soc": soc, "qnn_sdk": str(host_sdk.root)})
        print(f"[qnn] {soc} {targets}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        for p in paths:
            arts[f"{p.name.removeprefix(TINY + '-')}-{soc}"] = p
    for name, p in arts.items():
        m = read_manifest(p)
        print(f"[qnn] {name}: {m.file_bytes} B, export {m.export_seconds} s (lower {m.target_options['seconds_lower']} s"
              f", quantize {m.target_options.get('seconds_quantize')}), cosine_min {m.parity.cosine_min:.7f}, "
              f"max_abs {m.parity.max_abs:.3g}", file=sys.stderr)
    return arts


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 900):
    """The real console script in a subprocess: exit code, stdout, stderr."""
    import subprocess

    exe = Path(sys.executable).parent / "edge-export"
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"})
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def cli():
    return run_cli
