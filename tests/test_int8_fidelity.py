"""int8 fidelity measured where it means something: a SwiftFormer trained in the test on real digits."""

from __future__ import annotations

import numpy as np
import pytest

from edge_export.artifacts import read_manifest


@pytest.fixture(scope="module")
def int8_artifact(trained, tmp_path_factory):
    from conftest import run_cli

    ckpt = trained.checkpoint
    out = tmp_path_factory.mktemp("digits-int8")
    code, _, err = run_cli(
        "export", "swiftformer-test", "--checkpoint", str(ckpt), "--opt", "image_size=32", "-t", "xnnpack-int8",
        "--calib", "16", "--target-opt", "observer=minmax", "--images", "0", "--out", str(out),
    )
    assert code == 0, err
    return out / "swiftformer-test-xnnpack-int8"


def test_int8_on_a_trained_model_keeps_its_predictions(trained, int8_artifact, cli):
    image_dir = trained.image_dir
    art = int8_artifact
    code, out, err = cli("validate", str(art), "--image-dir", str(image_dir), "--images", "24")
    assert code == 0, err
    p = read_manifest(art).parity
    assert p.images == 24 and p.cosine_min >= 0.98
    assert p.top1_agree >= 0.9
    # logits are far from zero: the comparison is about a real decision function
    assert read_manifest(art).source.kind == "original-pth"


def test_int8_accuracy_close_to_fp32(trained, int8_artifact):
    from edge_export.images import preprocess
    from edge_export.runtimes import open_runner

    loaded, images, labels, acc = trained.loaded, trained.test_images, trained.test_labels, trained.accuracy
    with open_runner(int8_artifact, threads=1) as runner:
        preds = [int(np.argmax(runner.logits(preprocess(im, loaded.preprocessing).numpy()))) for im in images]
    int8_acc = float(np.mean(np.array(preds) == labels))
    assert int8_acc >= acc - 0.05, (int8_acc, acc)
