"""The zoo: paper parameter counts, each source kind, the two attention forms, and bad checkpoints."""

from __future__ import annotations

import pytest
import torch

from edge_export.errors import EdgeExportError
from edge_export.models import load_model, model_ids
from edge_export.models.swiftformer.spec import PAPER_PARAMS_M

OPTS = {"layer_scale_init_value": 1.0}


@pytest.mark.parametrize("variant", ["xs", "s", "l1", "l3"])
@pytest.mark.parametrize("form", ["normalize", "softmax"])
def test_param_counts_match_paper(variant, form):
    m = load_model(f"swiftformer-{variant}-{form}")
    assert round(m.param_count() / 1e6, 1) == PAPER_PARAMS_M[variant]
    assert m.flops() > 1e9  # FLOPs = 2 x MACs; paper GMACs 0.6 .. 4.0
    assert m.preprocessing.image_size == 224 and m.preprocessing.interpolation == "bicubic"


def test_flops_match_paper_macs():
    gmacs = {"xs": 0.6, "s": 1.0, "l1": 1.6, "l3": 4.0}
    for v, macs in gmacs.items():
        assert abs(load_model(f"swiftformer-{v}").flops() / 2e9 - macs) < 0.05


def test_seeded_init_is_reproducible_and_seed_sensitive():
    x = torch.randn(1, 3, 64, 64)
    a, b = load_model("swiftformer-test", seed=3, options=OPTS), load_model("swiftformer-test", seed=3, options=OPTS)
    c = load_model("swiftformer-test", seed=4, options=OPTS)
    assert torch.equal(a.logits(x), b.logits(x))
    assert not torch.allclose(a.logits(x), c.logits(x))


def test_attention_forms_are_different_functions():
    """Same weights, two forms: the normalize form and the softmax form give different logits."""
    a = load_model("swiftformer-test-normalize", options=OPTS)
    sd = a.module.state_dict()
    from edge_export.models.swiftformer.original import SwiftFormerOriginal

    soft = SwiftFormerOriginal(a.module.spec, "softmax")
    soft.load_state_dict(sd)
    x = torch.randn(2, 3, 64, 64)
    diff = (a.logits(x) - soft.eval()(x)).abs().max()
    assert diff > 1e-4 * a.logits(x).abs().max()


def test_original_pth_loads_into_the_original_form(tmp_path):
    src = load_model("swiftformer-test-normalize", options=OPTS, seed=1)
    path = tmp_path / "orig.pth"
    torch.save({"model": src.module.state_dict()}, path)
    bare = tmp_path / "bare.pth"
    torch.save(src.module.state_dict(), bare)
    x = torch.randn(2, 3, 64, 64)
    for ckpt in (path, bare):
        m = load_model("swiftformer-test", checkpoint=ckpt)  # bare id: format implies the normalize form
        assert m.family == "swiftformer-original" and m.source.attention_form == "normalize"
        assert m.source.kind == "original-pth" and len(m.source.checkpoint_sha256) == 64
        assert torch.equal(m.logits(x), src.logits(x))


def test_original_keys_map_onto_the_transformers_port(tmp_path):
    """An original .pth given to the softmax id goes through transformers' key map and computes the softmax form."""
    src = load_model("swiftformer-test-normalize", options=OPTS, seed=2)
    path = tmp_path / "orig.pth"
    torch.save({"model": src.module.state_dict()}, path)
    hf = load_model("swiftformer-test-softmax", checkpoint=path)
    assert hf.family == "swiftformer-hf"
    from edge_export.models.swiftformer.original import SwiftFormerOriginal

    ours_soft = SwiftFormerOriginal(src.module.spec, "softmax")
    ours_soft.load_state_dict(src.module.state_dict())
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(hf.logits(x), ours_soft.eval()(x), rtol=1e-5, atol=1e-6)


def test_transformers_folder_source(tmp_path):
    hf = load_model("swiftformer-test-softmax", options=OPTS, seed=5)
    hf.module.config.id2label = {i: f"class{i}" for i in range(10)}
    hf.module.save_pretrained(tmp_path / "hf")
    m = load_model("swiftformer-test", checkpoint=tmp_path / "hf")  # folder: softmax form
    assert m.family == "swiftformer-hf" and m.source.kind == "hf-folder" and m.source.attention_form == "softmax"
    assert m.labels == [f"class{i}" for i in range(10)]
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(m.logits(x), hf.logits(x))
    # The same folder into the normalize form: inverse key map, strict load.
    n = load_model("swiftformer-test-normalize", checkpoint=tmp_path / "hf")
    assert n.family == "swiftformer-original"


def test_checkpoint_of_another_variant_names_the_right_one(tmp_path):
    xs = load_model("swiftformer-xs-normalize")
    path = tmp_path / "xs.pth"
    torch.save(xs.module.state_dict(), path)
    with pytest.raises(EdgeExportError, match="not swiftformer-s: use swiftformer-xs"):
        load_model("swiftformer-s", checkpoint=path)


def test_shape_mismatch_names_the_key(tmp_path):
    sd = load_model("swiftformer-test-normalize").module.state_dict()
    sd["network.0.0.attn.w_g"] = torch.zeros(5, 1)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(EdgeExportError, match=r"network\.0\.0\.attn\.w_g \[5, 1\]"):
        load_model("swiftformer-test", checkpoint=tmp_path / "bad.pth")


def test_missing_keys_are_named(tmp_path):
    sd = load_model("swiftformer-test-normalize").module.state_dict()
    del sd["head.bias"]
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(EdgeExportError, match=r"1 missing \(first: head\.bias\)"):
        load_model("swiftformer-test", checkpoint=tmp_path / "bad.pth")


@pytest.mark.parametrize(
    "content, match",
    [(b"not a checkpoint at all", "not a readable checkpoint"), (None, "checkpoint not found")],
)
def test_bad_checkpoint_files(tmp_path, content, match):
    path = tmp_path / "x.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(EdgeExportError, match=match):
        load_model("swiftformer-test", checkpoint=path)


def test_foreign_state_dict_is_refused(tmp_path):
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(EdgeExportError, match="not a SwiftFormer checkpoint"):
        load_model("swiftformer-test", checkpoint=tmp_path / "other.pth")


def test_unknown_model_suggests():
    with pytest.raises(EdgeExportError, match="did you mean swiftformer-xs"):
        load_model("swiftformer-xx")
    assert "swiftformer-l3-softmax" in model_ids()


def test_python_module_source():
    m = load_model("module:helpers:tiny_cnn", options={"num_classes": 7})
    assert m.family == "generic" and m.num_classes == 7 and m.preprocessing.image_size == 32
    with pytest.raises(EdgeExportError, match="not a torch.nn.Module"):
        load_model("module:helpers:not_a_module")
    with pytest.raises(EdgeExportError, match="cannot import"):
        load_model("module:no_such_pkg.mod:build")
    with pytest.raises(EdgeExportError, match="module:<python.path>:<callable>"):
        load_model("module:only_one_part")


def test_timm_source_reports_clearly_when_unusable():
    try:
        import timm  # noqa: F401

        pytest.skip("timm is importable here; the unusable path cannot be shown")
    except Exception:
        pass
    with pytest.raises(EdgeExportError, match="timm is not usable"):
        load_model("timm:swiftformer_xs")


def _original_to_timm(key: str) -> str:
    """timm's checkpoint_filter_fn (timm/models/swiftformer.py), written out from its documented renames."""
    import re

    k = re.sub(r"^patch_embed\.", "stem.", key)
    k = re.sub(r"^network\.(\d+)\.", lambda m: (f"stages.{int(m.group(1)) // 2}.blocks." if int(m.group(1)) % 2 == 0
                                                 else f"stages.{(int(m.group(1)) + 1) // 2}.downsample."), k)
    k = re.sub(r"(layer_scale(?:_[12])?)$", r"\1.gamma", k)
    return k.replace(".attn.Proj.", ".attn.proj.").replace("dist_head.", "head_dist.")


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_timm_format_checkpoints_load_into_the_normalize_form(tmp_path, suffix):
    """timm publishes SwiftFormer under its own key names (stem., stages.N.blocks.M., layer_scale.gamma,
    head_dist.); the same function as the original, loaded without importing timm."""
    src = load_model("swiftformer-test-normalize", options=OPTS, seed=6)
    timm_sd = {_original_to_timm(k): v.contiguous() for k, v in src.module.state_dict().items()}
    assert any(k.startswith("stages.1.downsample.") for k in timm_sd) and "head_dist.weight" in timm_sd
    path = tmp_path / f"timm{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(timm_sd, str(path))
    else:
        torch.save({"state_dict": timm_sd}, path)
    m = load_model("swiftformer-test", checkpoint=path)
    assert m.source.kind == "timm-checkpoint" and m.source.attention_form == "normalize"
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(m.logits(x), src.logits(x))


def test_timm_layout_of_the_wrong_shape_is_one_line(tmp_path):
    src = load_model("swiftformer-test-normalize", options=OPTS, seed=6)
    timm_sd = {_original_to_timm(k): v for k, v in src.module.state_dict().items()}
    del timm_sd["head_dist.weight"]
    timm_sd["stages.0.blocks.0.extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    torch.save(timm_sd, path)
    with pytest.raises(EdgeExportError, match=r"does not fit .*missing \(first: dist_head.weight\).*unexpected") as e:
        load_model("swiftformer-test", checkpoint=path)
    assert "\n" not in str(e.value)


def test_transformers_module_names_map_onto_the_original_ones():
    """swiftformer-hf's canonical names (the manifest's module_names) are the original form's: every module of the
    transformers export form maps to a module of the original's, every original module is reached, original
    names are left as they are, and the port-only containers map to what they wrap."""
    from edge_export.models.export_form import export_form
    from edge_export.models.family import get_family
    from edge_export.profile.schema import MODEL_INPUT

    hf, orig = (load_model(f"swiftformer-test-{form}", options=OPTS) for form in ("softmax", "normalize"))
    family = get_family(hf.family)
    assert (hf.family, family.module_names, get_family(orig.family).module_names) == (
        "swiftformer-hf", "swiftformer-original", "swiftformer-original")
    hf_names = [n for n, _ in export_form(hf)[0].named_modules()]
    orig_names = [n for n, _ in export_form(orig)[0].named_modules()]
    mapped = [family.canonical_module_path(n) for n in hf_names]
    assert set(mapped) - {MODEL_INPUT} == set(orig_names)
    assert [family.canonical_module_path(n) for n in orig_names] == orig_names
    pairs = dict(zip(hf_names, mapped))
    assert pairs["swiftformer.encoder.network.2.blocks.0.attn.proj"] == "network.2.0.attn.Proj"
    assert pairs["swiftformer.encoder.network.0.blocks.0.local_representation.point_wise_conv1"] == (
        "network.0.0.local_representation.pwconv1")
    assert pairs["swiftformer.patch_embed.patch_embedding.3"] == "patch_embed.3"
    assert (pairs["swiftformer"], pairs["swiftformer.encoder"], pairs["swiftformer.patch_embed"],
            pairs["swiftformer.encoder.network.4.blocks"]) == (MODEL_INPUT, "", "patch_embed", "network.4")
    # in model order: the mapped names keep the original's module order
    first = list(dict.fromkeys(m for m in mapped if m in orig_names))
    assert first == [n for n in orig_names if n in first]
