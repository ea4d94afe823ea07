"""JSON Schemas of the two file formats, generated from their pydantic models.

`manifest.v1.json` (edge_export.artifacts.Manifest) and `profile.v1.json` (edge_export.profile.schema.Profile)
are committed beside this file for readers in other languages (the Android app's Java core tests its
fixtures' fields against them). Regenerate with `make schemas`; a test fails while they are stale.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = {"manifest": "manifest.v1.json", "profile": "profile.v1.json"}
FIXTURES = HERE / "fixtures"


def generate() -> dict[str, dict]:
    from edge_export.artifacts import SCHEMA_VERSION, Manifest
    from edge_export.profile.schema import PROFILE_SCHEMA_VERSION, Profile
    from edge_export.runtimes import runtime_names

    manifest = Manifest.model_json_schema()
    manifest["properties"]["runtime"]["enum"] = runtime_names()  # checked against the runtime registry on read
    manifest["$id"] = f"edge-export/manifest.v{SCHEMA_VERSION}.json"
    profile = Profile.model_json_schema()
    profile["$id"] = f"edge-export/profile.v{PROFILE_SCHEMA_VERSION}.json"
    return {"manifest": manifest, "profile": profile}


def fixture_manifests() -> dict[str, dict]:
    """Two manifests as export writes them (an fp32 NCHW .pte, an int8 NHWC .tflite), fixed values: the
    Android core's tests parse them (android_app/core/src/test/.../SchemaContractTest.java)."""
    from edge_export.artifacts import Manifest, Preprocessing, QuantParams, SourceSpec, TensorSpec

    def manifest(target, runtime, program, inp):
        return Manifest(
            model_id="swiftformer-test-normalize", target=target, runtime=runtime, program_file=program,
            source=SourceSpec(kind="config", model_id="swiftformer-test", seed=0,
                              options={"layer_scale_init_value": 1.0}, attention_form="normalize"),
            file_sha256="0" * 64, file_bytes=1234, inputs=[inp],
            outputs=[TensorSpec(name="logits", shape=[1, 10], dtype="float32", layout="NC")],
            preprocessing=Preprocessing(image_size=64), labels=[f"class {i}" for i in range(10)], num_classes=10,
            params=123456, flops=7890000, package_versions={"edge-export": "0.1.0"}, export_seconds=1.5,
            created_at="2026-12-02T00:00:00+00:00", family="swiftformer-original", module_names="swiftformer-original",
        ).model_dump(mode="json")

    return {
        "manifest-xnnpack-fp32.json": manifest("xnnpack-fp32", "executorch", "model.pte",
                                               TensorSpec(name="input", shape=[1, 3, 64, 64], dtype="float32",
                                                          layout="NCHW")),
        "manifest-tflite-int8.json": manifest("tflite-int8", "litert", "model.tflite",
                                              TensorSpec(name="input", shape=[1, 64, 64, 3], dtype="int8", layout="NHWC",
                                                         quantization=QuantParams(scale=0.0187, zero_point=-14))),
    }


def text(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write() -> list[Path]:
    out = []
    for name, schema in generate().items():
        path = HERE / FILES[name]
        path.write_text(text(schema))
        out.append(path)
    FIXTURES.mkdir(exist_ok=True)
    for name, manifest in fixture_manifests().items():
        (FIXTURES / name).write_text(text(manifest))
        out.append(FIXTURES / name)
    return out
