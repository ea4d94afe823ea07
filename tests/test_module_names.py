"""Canonical module names: the transformers-form SwiftFormer (TF-native route) and the original form name every
stage, block and layer alike in their profiles, in model order; the mapping is recorded in the manifest."""

from __future__ import annotations

import json
import shutil

import pytest

from edge_export.artifacts import read_manifest
from edge_export.attribution.module_names import canonical_profile
from edge_export.profile.rollup import UNATTRIBUTED, ModuleTree, rollup
from edge_export.profile.schema import MODEL_INPUT, NumericGap, OpRow, Profile, Provenance, Stats


def _profile(paths: list[str | None], gaps: list[str] | None = None) -> Profile:
    rows = [OpRow(name=f"op {k}", kind="other", index=k, stats=Stats.of([1.0]), module_path=p,
                  attribution="exact" if p else "unattributed") for k, p in enumerate(paths)]
    prov = Provenance(where="host", runtime="litert", collector="test", model_id="m", target="t",
                      artifact_sha256="0", threads=1, runs=1, warmup=0, collected_at="2026-01-01T00:00:00+00:00")
    numeric_gap = None if gaps is None else [NumericGap(module_path=g, cosine=1.0, max_abs=0.0, rel_l2=0.0) for g in gaps]
    return Profile(provenance=prov, latency_ms=[1.0], latency=Stats.of([1.0]), rows=rows, numeric_gap=numeric_gap)


def _manifest(family, module_names):
    from types import SimpleNamespace

    return SimpleNamespace(family=family, module_names=module_names)


def test_canonical_profile_maps_rows_and_gaps_once():
    p = _profile(["swiftformer.encoder.network.2.blocks.0.attn.proj", "swiftformer.encoder", "swiftformer", None,
                  "head"], gaps=["swiftformer.encoder.network.0.blocks.0", "swiftformer.encoder.network.0.blocks",
                                 "swiftformer.encoder.network.0", "swiftformer.encoder", ""])
    m = _manifest("swiftformer-hf", "swiftformer-original")
    c = canonical_profile(p, m)
    assert [r.module_path for r in c.rows] == ["network.2.0.attn.Proj", None, MODEL_INPUT, None, "head"]
    assert c.rows[1].attribution == "unattributed" and "wraps the whole model" in c.rows[1].reason
    assert [g.module_path for g in c.numeric_gap] == ["network.0.0", "network.0", ""]
    assert c.notes == ["module names: swiftformer-hf's mapped to swiftformer-original's (the manifest's module_names)"]
    assert canonical_profile(c, m) == c  # idempotent


@pytest.mark.parametrize("family, names, note", [
    (None, None, None),  # an export from before the field: names stay as exported
    ("swiftformer-original", "swiftformer-original", None),  # the family's own names
    ("no-such-family", "x", "unknown to this edge-export"),
    ("swiftformer-hf", "swiftformer-hf", "re-export the artifact"),  # the family's scheme changed since export
])
def test_names_are_kept_when_there_is_nothing_to_map(family, names, note):
    p = _profile(["swiftformer.encoder.network.0.blocks.0"])
    c = canonical_profile(p, _manifest(family, names))
    assert c.rows == p.rows
    assert (c.notes == []) if note is None else (note in c.notes[0])


def test_a_manifest_from_before_the_fields_still_reads(tiny_artifacts, tmp_path):
    art = tmp_path / "old"
    shutil.copytree(tiny_artifacts["xnnpack-fp32"], art)
    data = json.loads((art / "manifest.json").read_text())
    assert (data.pop("family"), data.pop("module_names")) == ("swiftformer-original", "swiftformer-original")
    (art / "manifest.json").write_text(json.dumps(data))
    m = read_manifest(art)
    assert m.family is None and m.module_names is None


def _model_order_ok(keys: list[str], order: list[str]) -> bool:
    """The backbone's keys (stem and stages) first appear in the model's module order, and the head modules
    after them (the two classifier heads are independent: a converter may run either first)."""
    index = {k: i for i, k in enumerate(order)}
    backbone = [k for k in keys if k.startswith(("patch_embed", "network"))]
    heads = [k for k in keys if k in ("norm", "head", "dist_head")]
    pos = [keys.index(k) for k in backbone]
    return [index[k] for k in backbone] == sorted(index[k] for k in backbone) and all(
        keys.index(h) > max(pos) for h in heads)


def test_transformers_form_and_original_form_profiles_name_blocks_alike(tf_route, tiny_artifacts, tmp_path):
    """The TF-native route (transformers' TFSwiftFormer, transformers names) and the original form's XNNPACK
    artifact: same stage and block keys, each profile's blocks in model order."""
    from edge_export.models import load_from_source
    from edge_export.models.export_form import export_form
    from edge_export.profile.dispatch import profile_artifact

    tf_manifest = read_manifest(tf_route)
    assert (tf_manifest.family, tf_manifest.module_names) == ("swiftformer-hf", "swiftformer-original")
    original = tiny_artifacts["xnnpack-fp32"]
    assert read_manifest(original).module_names == "swiftformer-original"
    tf, _ = profile_artifact(tf_route, runs=2, warmup=1, out=tmp_path / "tf.json")
    xnn, _ = profile_artifact(original, runs=2, warmup=1, out=tmp_path / "xnn.json")
    assert not any(r.module_path and r.module_path.startswith("swiftformer") for r in tf.rows)
    assert tf.rows[0].module_path == MODEL_INPUT  # TFSwiftFormer's NCHW -> NHWC transpose of the input
    assert any("mapped to swiftformer-original" in n for n in tf.notes)
    tree = ModuleTree(r.module_path for p in (tf, xnn) for r in p.rows)
    order = [n for n, _ in export_form(load_from_source(read_manifest(original).source))[0].named_modules()]
    for level in ("stage", "block"):
        keys = {name: [m.key for m in rollup(p.rows, level, tree) if m.key not in (UNATTRIBUTED, MODEL_INPUT)]
                for name, p in (("tf", tf), ("xnnpack", xnn))}
        assert set(keys["tf"]) == set(keys["xnnpack"]), level
        assert "network.4.1" in keys["tf"] or level == "stage"
        for name, ks in keys.items():
            assert _model_order_ok(ks, order), (name, level, ks)
