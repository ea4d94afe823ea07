"""`profile --numeric-gap`: per-module outputs of real programs (LiteRT + XNNPACK, ExecuTorch + XNNPACK)
against PyTorch, on swiftformer-test artifacts in fp32 and int8. No mocks: real exports, real runtimes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_export.artifacts import read_manifest, write_manifest
from edge_export.errors import EdgeExportError
from edge_export.profile.numeric_gap import GRAPH_OUTPUT, Value, as_reference_layout, innermost_per_value, module_outputs
from edge_export.profile.schema import WHOLE_MODEL, load_profile

TINY = "swiftformer-test"
IMAGES = 4


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory) -> dict[str, Path]:
    """tflite-fp32 and tflite-int8 of swiftformer-test from one conversion (validation skipped: the gap is
    measured here)."""
    from edge_export.export import ExportRequest, export

    paths = export(ExportRequest(model=TINY, targets=["tflite-fp32", "tflite-int8"],
                                 out_dir=tmp_path_factory.mktemp("gap-tflite"),
                                 model_options={"layer_scale_init_value": 1.0}, calib=8, validate_images=0))
    return {p.name.removeprefix(f"{TINY}-"): p for p in paths}


@pytest.fixture(scope="module")
def gaps(tiny_tflite, tiny_artifacts, tmp_path_factory) -> dict:
    """{target: (artifact dir, profile with numeric gap, profile path)}; profiles written outside the shared
    artifact dirs."""
    from edge_export.profile.dispatch import profile_artifact

    arts = {"tflite-fp32": tiny_tflite["tflite-fp32"], "tflite-int8": tiny_tflite["tflite-int8"],
            "xnnpack-fp32": tiny_artifacts["xnnpack-fp32"], "xnnpack-int8": tiny_artifacts["xnnpack-int8"]}
    out = tmp_path_factory.mktemp("gap-profiles")
    result = {}
    for name, art in arts.items():
        profile, path = profile_artifact(art, runs=2, warmup=1, out=out / f"profile-{name}.json",
                                         numeric_gap=True, gap_images=IMAGES)
        assert load_profile(path) == profile
        result[name] = (art, profile, path)
    return result


def _export_form(artifact: Path):
    from edge_export.models import load_from_source
    from edge_export.models.export_form import export_form

    return export_form(load_from_source(read_manifest(artifact).source))[0]


def _completion_order(module: torch.nn.Module, artifact: Path) -> dict[str, int]:
    """When each module's forward finished (first call), from plain forward hooks."""
    from edge_export.images import validation_batch

    order: dict[str, int] = {}

    def hook(path):
        def record(mod, args, output) -> None:
            order.setdefault(path, len(order))

        return record

    handles = [m.register_forward_hook(hook(p)) for p, m in module.named_modules() if p]
    with torch.no_grad():
        module(validation_batch(read_manifest(artifact).preprocessing, 1)[1])
    for h in handles:
        h.remove()
    return order


def _independent_whole_model(artifact: Path):
    """validate's own measurement (runner + original PyTorch model) on the same photographs."""
    from edge_export.models import load_from_source
    from edge_export.validate import measure_parity

    manifest = read_manifest(artifact)
    return measure_parity(artifact, manifest, load_from_source(manifest.source), images=IMAGES)


@pytest.mark.parametrize("target", ["tflite-fp32", "xnnpack-fp32", "tflite-int8", "xnnpack-int8"])
def test_gap_entries_are_real_modules_in_forward_order(gaps, target):
    art, profile, _ = gaps[target]
    entries = profile.numeric_gap
    assert entries and entries[-1].module_path == ""  # the whole model comes last
    layers = [g.module_path for g in entries[:-1]]
    module = _export_form(art)
    assert set(layers) <= set(dict(module.named_modules())) - {""}
    assert len(layers) == len(set(layers)) >= 40
    done = _completion_order(module, art)
    assert [done[p] for p in layers] == sorted(done[p] for p in layers)
    # every stage's blocks, attention and MLP layers are there
    for want in ("patch_embed.5", "network.0.0.attn.to_query", "network.2.0.linear.fc1", "network.6.0", "head"):
        assert want in layers, want
    notes = " ".join(profile.notes)
    assert "instrumented program's logits equal the shipped program's on 4/4 images" in notes
    assert "modules not reported" in notes and "called more than once" in notes


@pytest.mark.parametrize("target", ["tflite-fp32", "xnnpack-fp32"])
def test_fp32_gaps_are_rounding_only(gaps, target):
    art, profile, _ = gaps[target]
    worst = min(profile.numeric_gap, key=lambda g: g.cosine)
    assert worst.cosine > 0.9999, worst
    assert max(g.rel_l2 for g in profile.numeric_gap) < 1e-4
    whole = profile.numeric_gap[-1]
    parity = _independent_whole_model(art)
    assert whole.cosine == pytest.approx(parity.cosine_min, abs=1e-6)


@pytest.mark.parametrize("target", ["tflite-int8", "xnnpack-int8"])
def test_int8_gaps_are_real_and_match_the_whole_model(gaps, target):
    art, profile, _ = gaps[target]
    layers, whole = profile.numeric_gap[:-1], profile.numeric_gap[-1]
    assert min(g.cosine for g in layers) < 0.999 and max(g.rel_l2 for g in layers) > 0.01  # quantization shows
    # first layers lose little; the error grows along the network
    assert layers[0].rel_l2 < 0.05 and layers[0].rel_l2 < whole.rel_l2
    parity = _independent_whole_model(art)
    assert whole.cosine == pytest.approx(parity.cosine_min, abs=1e-4)
    assert whole.rel_l2 == pytest.approx(parity.rel_l2, rel=1e-3)
    # the logits are (head + dist_head) / 2: the last modules' gaps bracket the model's
    heads = [g for g in layers if g.module_path in ("head", "dist_head")]
    assert len(heads) == 2 and layers[-1].module_path in ("head", "dist_head")
    assert min(g.rel_l2 for g in heads) / 2 < whole.rel_l2 < 2 * max(g.rel_l2 for g in heads)
    assert min(g.cosine for g in heads) - 0.02 < whole.cosine < 1.0


def test_both_runtimes_report_the_same_modules_for_the_same_model(gaps):
    tfl = [g.module_path for g in gaps["tflite-fp32"][1].numeric_gap]
    et = [g.module_path for g in gaps["xnnpack-fp32"][1].numeric_gap]
    common = set(tfl) & set(et)
    assert len(common) >= 0.9 * min(len(tfl), len(et))
    assert [p for p in tfl if p in common] == [p for p in et if p in common]


def test_cli_prints_worst_layers_and_dashboard_shows_them(gaps, tiny_tflite, tmp_path, cli):
    art = tmp_path / "a"
    shutil.copytree(tiny_tflite["tflite-int8"], art)
    code, out, err = cli("profile", str(art), "--runs", "2", "--numeric-gap", "--gap-images", "2")
    assert code == 0, err
    assert "numeric gap to PyTorch: worst 10 of" in out and WHOLE_MODEL in out
    data = json.loads((art / "profile-host.json").read_text())
    assert data["numeric_gap"][-1]["module_path"] == "" and len(data["numeric_gap"]) > 40
    from edge_export.report.dashboard import build_dashboard

    html = build_dashboard([art, gaps["xnnpack-int8"][2]], tmp_path / "r.html").read_text()
    assert "Numeric gap to PyTorch per module output" in html and WHOLE_MODEL in html
    assert "network.2.0.attn.to_query" in html


# ---------------------------------------------------------------- bad input


def test_numeric_gap_bad_input_is_one_line_exit_2(tiny_artifacts, tmp_path, cli):
    code, out, err = cli("profile", str(tiny_artifacts["xnnpack-fp32"]), "--numeric-gap", "--device", "adb:XYZ")
    assert code == 2 and "--numeric-gap runs on the host only" in err and "Traceback" not in err + out
    qnn = tmp_path / "qnn"
    shutil.copytree(tiny_artifacts["xnnpack-fp32"], qnn)
    m = read_manifest(qnn)
    write_manifest(qnn, m.model_copy(update={"runtime": "executorch-qnn", "target": "qnn-fp16"}))
    code, out, err = cli("profile", str(qnn), "--numeric-gap")
    assert code == 2 and "not supported for executorch-qnn artifacts" in err and "Traceback" not in err + out
    assert not (qnn / "profile-host.json").exists()
    no_etrecord = tmp_path / "noet"
    shutil.copytree(tiny_artifacts["xnnpack-fp32"], no_etrecord)
    (no_etrecord / "model.etrecord").unlink()
    code, out, err = cli("profile", str(no_etrecord), "--numeric-gap")
    assert code == 2 and "needs the artifact's ETRecord" in err
    assert len([ln for ln in err.strip().splitlines() if ln.startswith("error:")]) == 1
    code, _, err = cli("profile", str(no_etrecord), "--numeric-gap", "--gap-images", "0")
    assert code == 2 and "--gap-images must be at least 1" in err


def test_api_refuses_a_device_before_touching_it(tiny_artifacts):
    from edge_export.profile.dispatch import profile_artifact

    with pytest.raises(EdgeExportError, match="host only"):
        profile_artifact(tiny_artifacts["xnnpack-int8"], device="adb", numeric_gap=True)


# ---------------------------------------------------------------- the selection rules, on small graphs


def test_module_output_is_the_last_value_read_outside_it():
    # a.conv -> a.bn (fused: both named a.bn) -> a.relu -> b ; a.bn also read by a side op inside a
    values = [
        Value(1, 0, "a.bn", [2, 3], (1, 4, 2, 2)),
        Value(2, 1, "a.relu", [4], (1, 4, 2, 2)),
        Value(3, 2, "a", [4], (1, 4, 2, 2)),
        Value(4, 3, "b", [GRAPH_OUTPUT], (1, 4)),
    ]
    outs = module_outputs(values, ["a", "a.conv", "a.bn", "a.relu", "b"])
    assert {m: v.key for m, v in outs.items()} == {"a": 3, "a.bn": 1, "a.relu": 2, "b": 4}
    # a Sequential and its last layer share a value: the layer is reported
    shared = {"s": values[1], "s.2": values[1], "b": values[3]}
    assert [m for m, _ in innermost_per_value(shared, {"s.2": 1, "s": 2, "b": 3})] == ["s.2", "b"]
    # a value whose shape does not fit the module's output (a pad feeding a fused conv) is not its output
    fits = {"a.relu": False}
    outs = module_outputs(values, ["a.relu"], lambda m, v: fits.get(m, True))
    assert outs == {}


def test_layouts_nhwc_tokens_and_flattened_batches():
    ref = np.arange(2 * 3 * 4, dtype=np.float32).reshape(1, 2, 3, 4)  # NCHW
    nhwc = ref.transpose(0, 2, 3, 1).copy()
    assert np.array_equal(as_reference_layout(nhwc, ref.shape, channels_last=True), ref)
    assert np.array_equal(as_reference_layout(ref, ref.shape, channels_last=False), ref)
    tokens = np.arange(6, dtype=np.float32).reshape(1, 3, 2)
    assert np.array_equal(as_reference_layout(tokens.reshape(3, 2), tokens.shape, channels_last=True), tokens)
    assert as_reference_layout(np.zeros((1, 5)), (1, 6), channels_last=True) is None
    assert as_reference_layout(np.zeros((2, 3)), (3, 2), channels_last=False) is None


def test_folded_batch_norm_and_fused_activation_move_to_the_module_whose_output_it_is():
    from edge_export.profile.numeric_gap import ReferenceHooks, select_outputs

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 4, 1))
    hooks = ReferenceHooks(net.eval())
    hooks.run(torch.zeros(1, 3, 5, 5))
    shape = (1, 4, 5, 5)
    # PT2E-style: the BN was folded into the conv, the ReLU is an op of its own
    values = [Value(0, 0, "0", [1], shape), Value(1, 1, "2", [2], shape), Value(2, 2, "3", [GRAPH_OUTPUT], shape)]
    assert [m for m, _ in select_outputs(values, hooks, channels_last=False).exposed] == ["1", "2", "3"]
    # TF/Keras-style: one op computes conv+BN+ReLU and its tensor names the BN only
    values = [Value(0, 0, "1", [2], shape, fused_activation=True), Value(2, 2, "3", [GRAPH_OUTPUT], shape)]
    sel = select_outputs(values, hooks, channels_last=False)
    assert [m for m, _ in sel.exposed] == ["2", "3"]
    assert any("no output tensor of their own" in why and "0" in mods for why, mods in sel.skipped.items())
    hooks.close()
