"""The JSON Schemas of manifest.json and profile.json are current, and real files validate against them.

The schemas (edge_export/schemas/*.v1.json) are generated from the pydantic models for readers in other
languages; the Android core's JUnit tests check their fields against them and parse the fixtures here.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from edge_export import schemas
from edge_export.artifacts import Manifest, read_manifest
from edge_export.profile.schema import Profile


def _committed(name: str) -> str:
    return (schemas.HERE / name).read_text()


@pytest.mark.parametrize("name", sorted(schemas.FILES))
def test_committed_schema_is_the_generated_one(name):
    assert _committed(schemas.FILES[name]) == schemas.text(schemas.generate()[name]), (
        f"edge_export/schemas/{schemas.FILES[name]} is stale: run `make schemas` and commit it")


def test_fixtures_are_current_valid_and_load():
    schema = json.loads(_committed(schemas.FILES["manifest"]))
    for name, expected in schemas.fixture_manifests().items():
        text = (schemas.FIXTURES / name).read_text()
        assert text == schemas.text(expected), f"fixture {name} is stale: run `make schemas`"
        data = json.loads(text)
        jsonschema.validate(data, schema)
        assert Manifest.model_validate(data).model_dump(mode="json") == data


def test_real_artifacts_and_profiles_validate(tiny_artifacts, tmp_path):
    from edge_export.profile.dispatch import profile_artifact

    manifest_schema = json.loads(_committed(schemas.FILES["manifest"]))
    profile_schema = json.loads(_committed(schemas.FILES["profile"]))
    for art in tiny_artifacts.values():
        jsonschema.validate(json.loads((art / "manifest.json").read_text()), manifest_schema)
        read_manifest(art)
    profile, path = profile_artifact(tiny_artifacts["xnnpack-fp32"], runs=2, warmup=1, out=tmp_path / "p.json")
    data = json.loads(path.read_text())
    jsonschema.validate(data, profile_schema)
    assert Profile.model_validate(data) == profile


def test_a_manifest_the_schema_refuses_is_refused_by_the_reader_too(tiny_artifacts):
    data = json.loads((tiny_artifacts["xnnpack-int8"] / "manifest.json").read_text())
    data["runtime"] = "no-such-runtime"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json.loads(_committed(schemas.FILES["manifest"])))
    with pytest.raises(ValueError):
        Manifest.model_validate(data)
