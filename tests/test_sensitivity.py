"""int8-sensitivity: the known culprit found by both int8 targets, the recipe round-trip through export,
accuracy scoring on the digits-trained model, and the bad inputs."""

from __future__ import annotations

import json

import pytest

from edge_export.errors import EdgeExportError
from edge_export.export import export_model
from edge_export.sensitivity import SensitivityRequest, int8_sensitivity

CULPRIT = "module:helpers:outlier_cnn"  # blocks.1 has a 1000x activation channel (tests/helpers.py)


@pytest.fixture
def cli_with_helpers(cli, monkeypatch):
    """The console script, with tests/ on PYTHONPATH so `module:helpers:...` imports."""
    from pathlib import Path

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    return cli


@pytest.mark.parametrize("target", ["xnnpack-int8", "tflite-int8"])
def test_finds_the_known_culprit_and_the_real_artifact_agrees(target):
    r = int8_sensitivity(SensitivityRequest(CULPRIT, target, depth="stage", budget=2, images=8))
    ranking = r["ranking"]
    assert {x["module"] for x in ranking} == {"stem", "blocks.0", "blocks.1", "blocks.2", "head"}
    assert ranking[0]["module"] == "blocks.1"
    assert ranking[0]["gain"] > 0.005 and all(x["gain"] < 0.001 for x in ranking[1:])
    assert r["float_modules"][0] == "blocks.1" and r["recipe"].startswith("float_modules=blocks.1")
    assert r["baseline"]["cosine"] < 0.995 < 0.9999 <= r["greedy"][0]["cosine"]
    check = r["cross_check"]
    # the simulation scores what the real runtime computes, within float rounding
    assert check["int8"]["cosine"] == pytest.approx(r["baseline"]["cosine"], abs=2e-4)
    assert check["recipe"]["cosine"] == pytest.approx(r["greedy"][-1]["cosine"], abs=2e-4)
    assert check["recipe"]["file_bytes"] > check["int8"]["file_bytes"] and check["size_ratio"] > 1


def test_recipe_round_trips_through_export(cli_with_helpers, tmp_path):
    cli = cli_with_helpers
    report = tmp_path / "report.json"
    code, out, err = cli("int8-sensitivity", CULPRIT, "-t", "xnnpack-int8", "--depth", "stage", "--budget", "1",
                         "--images", "8", "--no-cross-check", "--report", str(report))
    assert code == 0, err
    r = json.loads(report.read_text())
    assert r["schema"] == "edge-export-int8-sensitivity/1" and "cross_check" not in r
    assert f"--target-opt {r['recipe']}" in out
    code, out, err = cli("export", CULPRIT, "-t", "xnnpack-int8", "--target-opt", r["recipe"], "--out", str(tmp_path / "a"))
    assert code == 0, err
    (art,) = (tmp_path / "a").iterdir()
    manifest = json.loads((art / "manifest.json").read_text())
    assert manifest["target_options"]["float_modules"] == ["blocks.1"]
    assert manifest["parity"]["cosine_min"] > 0.9999


def test_accuracy_scoring_on_the_trained_digits(trained):
    r = int8_sensitivity(SensitivityRequest(
        "swiftformer-test", "tflite-int8", checkpoint=trained.checkpoint, model_options={"image_size": 32},
        data=trained.folder, depth="stage", budget=1))
    assert r["scored_by"] == "top1" and r["data"]["images"] == len(trained.test_labels)
    assert r["reference"]["top1"] == pytest.approx(trained.accuracy, abs=1e-6)  # the direct PyTorch computation
    check = r["cross_check"]
    assert check["int8"]["top1"] == pytest.approx(r["baseline"]["top1"])  # ai-edge-quantizer: no simulation gap
    if r["float_modules"]:
        assert check["recipe"]["top1"] == pytest.approx(r["greedy"][-1]["top1"])
        assert r["greedy"][-1]["top1"] >= r["baseline"]["top1"]


@pytest.mark.parametrize("target", ["xnnpack-int8", "tflite-int8"])
def test_unknown_float_module_is_one_line_with_closest_names(cli_with_helpers, tmp_path, target):
    cli = cli_with_helpers
    code, out, err = cli("export", CULPRIT, "-t", target, "--target-opt", "float_modules=blocks.7", "--images", "0",
                         "--out", str(tmp_path / "a"))
    assert code == 2 and "Traceback" not in err
    assert "float_modules: the model has no module 'blocks.7': closest: blocks.2, blocks.1, blocks.0" in " ".join(err.split())
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())


@pytest.mark.parametrize("kw, message", [
    ({"budget": -1}, "--budget must be a whole number >= 0"),
    ({"depth": "tile"}, "--depth 'tile' is not a depth"),
    ({"target": "xnnpack-fp32"}, "does not support target 'xnnpack-fp32'"),
    ({"target_options": {"float_modules": "stem"}}, "float_modules is what int8-sensitivity finds"),
    ({"target_options": {"observer": "median"}}, "unknown observer"),
])
def test_bad_requests_fail_before_any_model_work(kw, message):
    request = SensitivityRequest(**{"model": "no-such-model", "target": "xnnpack-int8", **kw})
    with pytest.raises(EdgeExportError, match=message.replace("(", r"\(")):
        int8_sensitivity(request)


def test_bad_budget_from_the_cli(cli_with_helpers):
    cli = cli_with_helpers
    code, out, err = cli("int8-sensitivity", CULPRIT, "-t", "tflite-int8", "--budget", "-2")
    assert code == 2 and "--budget must be a whole number >= 0" in err and "Traceback" not in err
