"""The ExecuTorch host collector on the tiny artifacts: schema, attribution, CLI, bad input."""

from __future__ import annotations

import shutil

import pytest

from edge_export.errors import EdgeExportError
from edge_export.profile.schema import load_profile


@pytest.fixture(scope="module")
def tiny_profile(tiny_artifacts):
    from edge_export.profile.dispatch import profile_artifact

    return profile_artifact(tiny_artifacts["xnnpack-fp32"], runs=5, warmup=2)


def test_profile_rows_are_attributed_to_real_modules(tiny_profile, tiny_artifacts):
    from edge_export.artifacts import read_manifest
    from edge_export.models import load_from_source
    from edge_export.models.export_form import export_form

    profile, path = tiny_profile
    assert path == tiny_artifacts["xnnpack-fp32"] / "profile-host.json"
    assert load_profile(path) == profile
    p = profile.provenance
    assert p.where == "host" and p.runtime == "executorch" and p.collector == "executorch-etdump" and not p.simulator
    assert p.artifact_sha256 == read_manifest(tiny_artifacts["xnnpack-fp32"]).file_sha256
    assert profile.latency.n == 5 and len(profile.latency_ms) == 5 and profile.complete
    assert len(profile.rows) > 100 and profile.attributed_fraction() == pytest.approx(1.0)
    module, _ = export_form(load_from_source(read_manifest(tiny_artifacts["xnnpack-fp32"]).source))
    names = set(dict(module.named_modules()))
    assert {r.module_path for r in profile.rows if r.module_path} <= names
    assert {"conv", "gemm", "gelu"} <= {r.kind for r in profile.rows}


def test_int8_profile_and_compare(tiny_artifacts, tiny_profile, cli):
    code, out, err = cli("profile", str(tiny_artifacts["xnnpack-int8"]), "--runs", "3", "--eager")
    assert code == 0, err
    assert "attributed to modules" in out
    assert load_profile(tiny_artifacts["xnnpack-int8"] / "profile-eager.json").provenance.runtime == "pytorch-eager"
    code, out, err = cli("compare", str(tiny_artifacts["xnnpack-fp32"] / "profile-host.json"),
                         str(tiny_artifacts["xnnpack-int8"] / "profile-host.json"), "--depth", "stage")
    assert code == 0, err
    assert "xnnpack-fp32" in out and "xnnpack-int8" in out and "network.2" in out


def test_int8_op_time_is_attributed_and_says_what_the_rest_is(tiny_artifacts, tmp_path):
    """xnnpack-int8: >= 95 % of op time has a module (the GELUs XNNPACK runs as unnamed int8 operators, the
    quantize/dequantize converts by the consumer/producer rule, the model input's conversion as "(input)");
    every attributed module is one of the model's or a pseudo-module; what stays unattributed says why."""
    from edge_export.artifacts import read_manifest
    from edge_export.models import load_from_source
    from edge_export.models.export_form import export_form
    from edge_export.profile.dispatch import profile_artifact
    from edge_export.profile.schema import MODEL_INPUT, PSEUDO_MODULES

    art = tiny_artifacts["xnnpack-int8"]
    profile, _ = profile_artifact(art, runs=3, warmup=1, out=tmp_path / "p.json")
    assert profile.attributed_fraction() >= 0.95
    module, _ = export_form(load_from_source(read_manifest(art).source))
    names = set(dict(module.named_modules()))
    paths = {r.module_path for r in profile.rows if r.module_path}
    assert paths - set(PSEUDO_MODULES) <= names and MODEL_INPUT in paths
    gelus = [r for r in profile.rows if r.name.startswith("Invalid Unary Op")]
    assert gelus and all(r.module_path.endswith(".act") and "Invalid Unary Op" in r.reason and r.kind == "gelu"
                         for r in gelus)
    converts = [r for r in profile.rows if r.name.startswith("Convert")]
    assert converts and {r.kind for r in converts} == {"quantize"}
    assert all(r.module_path for r in converts if r.stats.median > 0.001)
    assert all(r.reason for r in profile.rows if not r.module_path)


def test_missing_etrecord_still_profiles_and_says_why(tiny_artifacts, tmp_path):
    from edge_export.profile.dispatch import profile_artifact

    art = tmp_path / "a"
    shutil.copytree(tiny_artifacts["xnnpack-fp32"], art)
    (art / "model.etrecord").unlink()
    profile, _ = profile_artifact(art, runs=2, warmup=1)
    assert profile.rows and profile.attributed_fraction() == 0
    assert any("no ETRecord" in n for n in profile.notes)


def test_corrupted_etdump_is_a_clear_error(tiny_artifacts, tmp_path):
    from edge_export.artifacts import read_manifest
    from edge_export.runtimes.executorch.host_collector import rows_from_etdump

    bad = tmp_path / "x.etdp"
    bad.write_bytes(b"\x00\x01garbage" * 10)
    art = tiny_artifacts["xnnpack-fp32"]
    with pytest.raises(EdgeExportError, match="not a readable ETDump"):
        rows_from_etdump(art, read_manifest(art), bad, 0)


def test_profile_bad_inputs(tmp_path, cli):
    code, _, err = cli("profile", str(tmp_path))
    assert code == 2 and "no manifest.json" in err
    code, _, err = cli("compare", str(tmp_path / "none.json"))
    assert code == 2 and "does not exist" in err
    (tmp_path / "p.json").write_text("{not json")
    code, _, err = cli("compare", str(tmp_path / "p.json"))
    assert code == 2 and "not a readable profile" in err
