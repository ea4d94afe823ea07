"""Contract tests between the Android app's pure-Java core (android_app/core) and the Python side.

The Java core is compiled here with javac (no android.jar) and driven through its host entry point
`com.edgeexport.core.tools.ContractCli`, which runs the same classes the app runs:

* manifests written by `edge_export.artifacts.write_manifest` are parsed by Java, and what Java derives
  (input spec, preprocessing) is what Python meant;
* Java preprocessing of a real photograph equals `edge_export.images.preprocess` +
  `edge_export.runtimes.base.to_program_input` (float32 NCHW/NHWC, int8 NHWC);
* the results.json Java writes in benchmark mode (fake engine, deterministic clock) loads with the strict
  `edge_export.profile.schema.load_profile`, its statistics equal `Stats.of` bit for bit, and
  `edge_export.devices.android_results` converts it.

No phone and no Android runtime is involved: the engine is a stand-in (see FakeEngine.java).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge_export.artifacts import (
    Manifest,
    Preprocessing,
    QuantParams,
    SourceSpec,
    TensorSpec,
    read_manifest,
    sha256_file,
    write_manifest,
)
from edge_export.devices import android_results
from edge_export.profile.schema import Profile, Stats, load_profile, save_profile

ROOT = Path(__file__).resolve().parents[1]
CORE_SRC = ROOT / "android_app" / "core" / "src" / "main" / "java"
CLI = "com.edgeexport.core.tools.ContractCli"


@pytest.fixture(scope="module")
def java_core(tmp_path_factory) -> Path:
    javac, java = shutil.which("javac"), shutil.which("java")
    if not javac or not java:
        pytest.skip("javac/java not found: install a JDK (apt-get install -y default-jdk-headless; `make` does)")
    out = tmp_path_factory.mktemp("java_core")
    sources = sorted(str(p) for p in CORE_SRC.rglob("*.java"))
    assert sources, f"no Java sources under {CORE_SRC}"
    # No android.jar anywhere on the classpath: the core must build from the JDK alone.
    subprocess.run(
        [javac, "--release", "8", "-encoding", "UTF-8", "-Xlint:-options", "-d", str(out), *sources],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def run_cli(classes: Path, *args: str, stdin: str | None = None, expect: int = 0) -> str:
    proc = subprocess.run(
        ["java", "-cp", str(classes), CLI, *args], input=stdin, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == expect, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout


def make_manifest(
    program: Path,
    *,
    runtime: str = "executorch",
    target: str = "xnnpack-fp32",
    size: int = 224,
    layout: str = "NCHW",
    dtype: str = "float32",
    in_quant: QuantParams | None = None,
    out_dtype: str = "float32",
    out_quant: QuantParams | None = None,
    preprocessing: Preprocessing | None = None,
    classes: int = 1000,
    labels: bool = True,
) -> Manifest:
    shape = [1, size, size, 3] if layout == "NHWC" else [1, 3, size, size]
    return Manifest(
        model_id="swiftformer_xs",
        source=SourceSpec(kind="config", model_id="swiftformer_xs", seed=0),
        target=target,
        runtime=runtime,
        program_file=program.name,
        file_sha256=sha256_file(program),
        file_bytes=program.stat().st_size,
        inputs=[TensorSpec(name="input", shape=shape, dtype=dtype, layout=layout, quantization=in_quant)],
        outputs=[TensorSpec(name="logits", shape=[1, classes], dtype=out_dtype, layout="NC", quantization=out_quant)],
        preprocessing=preprocessing or Preprocessing(image_size=size),
        labels=[f"class_{i}_name" for i in range(classes)] if labels else None,
        num_classes=classes,
        params=3_000_000,
        package_versions={"executorch": "1.5.1"},
        export_seconds=1.0,
        created_at="2026-01-01T00:00:00+00:00",
    )


def make_artifact(tmp: Path, name: str, program_name: str = "model.pte", **kw) -> tuple[Path, Manifest]:
    d = tmp / name
    d.mkdir()
    program = d / program_name
    program.write_bytes(b"program bytes stand in for " + name.encode())
    m = make_manifest(program, **kw)
    write_manifest(d, m)
    return d, read_manifest(d)  # what the app would get: the file on disk, re-read through the strict schema


def write_ppm(path: Path, img: np.ndarray) -> Path:
    h, w, _ = img.shape
    path.write_bytes(f"P6\n{w} {h}\n255\n".encode() + np.ascontiguousarray(img, dtype=np.uint8).tobytes())
    return path


# ----------------------------------------------------------------------------- manifests: Python -> Java


def test_java_reads_python_manifests(java_core, tmp_path):
    cases = {
        "fp32": dict(),
        "int8": dict(
            runtime="litert", target="litert-int8", program_name="model.tflite", layout="NHWC", dtype="int8",
            in_quant=QuantParams(scale=0.018658447265625, zero_point=-14), out_dtype="int8",
            out_quant=QuantParams(scale=0.0751, zero_point=5),
            preprocessing=Preprocessing(image_size=224, crop_pct=0.875, interpolation="bilinear",
                                        mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
            labels=False,
        ),
        "small": dict(size=96, preprocessing=Preprocessing(image_size=96, crop_pct=0.95, interpolation="nearest"), classes=10),
    }
    for name, kw in cases.items():
        art, m = make_artifact(tmp_path, name, **kw)
        got = json.loads(run_cli(java_core, "manifest", str(art)))
        assert got["model_id"] == m.model_id and got["runtime"] == m.runtime and got["target"] == m.target
        assert got["program_file"] == m.program_file
        assert got["file_sha256"] == m.file_sha256 and got["file_bytes"] == m.file_bytes
        for side in ("input", "output"):
            spec = (m.inputs if side == "input" else m.outputs)[0]
            assert got[side]["name"] == spec.name
            assert got[side]["shape"] == spec.shape
            assert got[side]["dtype"] == spec.dtype
            assert got[side]["layout"] == spec.layout
            assert got[side]["quantization"] == (spec.quantization.model_dump() if spec.quantization else None)
        pre = m.preprocessing
        assert got["preprocessing"] == {
            "image_size": pre.image_size,
            "resize_size": pre.resize_size,
            "crop_pct": pre.crop_pct,
            "interpolation": pre.interpolation,
            "mean": pre.mean,
            "std": pre.std,
        }
        assert got["num_classes"] == m.num_classes
        assert got["labels"] == (len(m.labels) if m.labels else None)
        assert got["first_label"] == (m.labels[0] if m.labels else None)
        assert got["input_check"] == "ok", name


def test_resize_size_rounding_agrees(java_core, tmp_path):
    # Python's round() is half-to-even; crop_pct values chosen to land on and near .5
    for i, (size, crop) in enumerate([(5, 0.4), (7, 0.56), (224, 0.875), (224, 0.9), (256, 0.95), (3, 0.6)]):
        art, m = make_artifact(tmp_path, f"r{i}", size=size, preprocessing=Preprocessing(image_size=size, crop_pct=crop), classes=2)
        got = json.loads(run_cli(java_core, "manifest", str(art)))
        assert got["preprocessing"]["resize_size"] == m.preprocessing.resize_size, (size, crop)


def test_java_explains_an_input_it_cannot_feed(java_core, tmp_path):
    art, m = make_artifact(tmp_path, "bad", preprocessing=Preprocessing(image_size=256))  # input 224, preprocessing 256
    got = json.loads(run_cli(java_core, "manifest", str(art)))
    assert "[1, 3, 224, 224]" in got["input_check"] and "[1, 3, 256, 256]" in got["input_check"]

    data = json.loads((art / "manifest.json").read_text())
    data["schema_version"] = 2
    (art / "manifest.json").write_text(json.dumps(data))
    err = json.loads(run_cli(java_core, "manifest", str(art), expect=1))
    assert "schema_version 2" in err["error"]


# ----------------------------------------------------------------------------- preprocessing parity


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skimage_data.chelsea())  # 300 x 451 RGB, a real photograph


def _python_input(img: np.ndarray, m: Manifest) -> np.ndarray:
    from edge_export.images import preprocess
    from edge_export.runtimes.base import to_program_input

    return to_program_input(preprocess(img, m.preprocessing).numpy(), m.inputs[0])


@pytest.mark.parametrize(
    "kw",
    [
        dict(),  # bicubic, crop 0.9, NCHW float32: the SwiftFormer XNNPACK artifact
        dict(layout="NHWC", preprocessing=Preprocessing(image_size=224, interpolation="bilinear", crop_pct=0.875)),
        dict(size=160, preprocessing=Preprocessing(image_size=160, interpolation="nearest", crop_pct=1.0)),
    ],
    ids=["bicubic-nchw", "bilinear-nhwc", "nearest-160"],
)
def test_java_float_preprocessing_matches_python(java_core, tmp_path, photo, kw):
    art, m = make_artifact(tmp_path, "pp", **kw)
    ppm = write_ppm(tmp_path / "photo.ppm", photo)
    info = json.loads(run_cli(java_core, "preprocess", str(art / "manifest.json"), str(ppm), str(tmp_path / "x.bin")))
    want = _python_input(photo, m)
    assert info["shape"] == list(want.shape) and info["dtype"] == "float32"
    got = np.fromfile(tmp_path / "x.bin", dtype="<f4").reshape(want.shape)
    # torch resizes float32 tensors in float32, the Java core in double: ~1e-5 apart after normalising
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    if m.preprocessing.interpolation == "nearest":
        np.testing.assert_array_equal(got, want)


def test_java_int8_input_matches_python(java_core, tmp_path, photo):
    q = QuantParams(scale=0.018658447265625, zero_point=-14)
    art, m = make_artifact(
        tmp_path, "q", runtime="litert", target="litert-int8", program_name="model.tflite", layout="NHWC",
        dtype="int8", in_quant=q, out_dtype="int8", out_quant=QuantParams(scale=0.1, zero_point=0),
    )
    ppm = write_ppm(tmp_path / "photo.ppm", photo)
    info = json.loads(run_cli(java_core, "preprocess", str(art / "manifest.json"), str(ppm), str(tmp_path / "q.bin")))
    want = _python_input(photo, m)
    assert want.dtype == np.int8 and info["dtype"] == "int8" and info["layout"] == "NHWC"
    got = np.fromfile(tmp_path / "q.bin", dtype=np.int8).reshape(want.shape)
    diff = np.abs(got.astype(int) - want.astype(int))
    # identical arithmetic after the resize; a float32 value within ~1e-5 of a rounding boundary may flip by one step
    assert diff.max() <= 1
    assert (diff > 0).mean() < 1e-3, f"{(diff > 0).sum()} of {diff.size} values differ"


# ----------------------------------------------------------------------------- results.json: Java -> Python


def test_stats_are_bit_identical(java_core):
    rng = np.random.default_rng(7)
    arrays = [rng.lognormal(2.0, 0.6, int(n)) for n in rng.integers(1, 600, 60)]
    arrays += [np.array([4.0]), np.array([2.0, 1.0]), np.full(9, 0.1), np.arange(1.0, 11.0), np.full(300, 12.345)]
    stdin = "\n".join(",".join(repr(float(v)) for v in a) for a in arrays) + "\n"
    lines = run_cli(java_core, "stats", stdin=stdin).splitlines()
    assert len(lines) == len(arrays)
    for a, line in zip(arrays, lines):
        assert json.loads(line) == Stats.of(a).model_dump(), f"n={a.size}"


def test_java_results_json_is_a_valid_profile(java_core, tmp_path, photo):
    art, m = make_artifact(tmp_path, "bench")
    ppm = write_ppm(tmp_path / "photo.ppm", photo)
    run_ns = [12_345_678, 11_000_001, 13_250_000, 12_000_000, 40_000_000]
    out = tmp_path / "device_files"
    stdout = run_cli(
        java_core, "bench", str(art), str(out), "--runs", "23", "--warmup", "3", "--threads", "4",
        "--image", str(ppm), "--load-ns", "81500000", "--run-ns", ",".join(map(str, run_ns)),
        "--wall-ms", "1767225600000", "--run-id", "t-42", "--device", "model=Pixel 8", "--device", "soc=Tensor G3",
    )
    result = android_results.check_ok(android_results.find_result(stdout, run_id="t-42"))
    results = Path(result["results"])
    assert results == out / "results.json" and results.is_file()

    raw = json.loads(results.read_text())
    assert set(raw) == set(Profile.model_fields), "the app must write exactly the schema's fields"
    prof = load_profile(results)  # strict: extra fields forbidden
    # calls 1-3 are warm-up; timed calls 4..26 cycle through run_ns starting at index 3
    want_ms = [run_ns[i % len(run_ns)] / 1e6 for i in range(3, 26)]
    assert prof.latency_ms == want_ms
    assert prof.latency == Stats.of(want_ms)  # same doubles, not just close
    assert result["median_ms"] == prof.latency.median and result["runs"] == 23
    assert prof.load_ms == 81.5
    assert prof.first_run_ms == run_ns[0] / 1e6
    assert prof.complete is True and prof.rows == []
    p = prof.provenance
    assert (p.where, p.collector, p.simulator, p.runtime) == ("device", "android-app", False, "executorch")
    assert (p.model_id, p.target, p.artifact_sha256) == (m.model_id, m.target, m.file_sha256)
    assert (p.threads, p.runs, p.warmup) == (4, 23, 3)
    assert p.collected_at == "2026-01-01T00:00:00+00:00"
    assert p.device == {"model": "Pixel 8", "soc": "Tensor G3"}
    assert p.options["run_id"] == "t-42" and p.options["input"] == "float32 NCHW"
    assert prof.peak_rss_mb is None or prof.peak_rss_mb > 0
    assert any(n.startswith("top5 on the benchmark image:") for n in prof.notes)

    # host side: pulled over adb -> a regular profile with the serial, checked against the artifact
    conv = android_results.convert(results, tmp_path / "profile.json", serial="R5CT30XYZ", manifest=m)
    assert conv.provenance.where == "adb:R5CT30XYZ"
    again = load_profile(tmp_path / "profile.json")
    assert again == conv and again.latency == prof.latency
    assert android_results.etdump_path(conv, results) is None  # the fake engine writes no ETDump


def test_top5_in_results_is_the_java_top5_of_the_real_input(java_core, tmp_path, photo):
    # int8 in, int8 out: the fake engine's logits are quantized to the output spec and Java dequantizes them
    art, m = make_artifact(
        tmp_path, "q", runtime="litert", target="litert-int8", program_name="model.tflite", layout="NHWC",
        dtype="int8", in_quant=QuantParams(scale=0.02, zero_point=-3), out_dtype="int8",
        out_quant=QuantParams(scale=0.05, zero_point=2), classes=50,
    )
    ppm = write_ppm(tmp_path / "p.ppm", photo)
    run_cli(java_core, "bench", str(art), str(tmp_path / "o"), "--runs", "3", "--warmup", "0", "--image", str(ppm))
    prof = android_results.read_app_results(tmp_path / "o" / "results.json", manifest=m)
    assert prof.provenance.runtime == "litert" and prof.provenance.options["input"] == "int8 NHWC"
    # the fake model: logits[i] = 4 sin(0.37 i + mean(input)), on the int8 input Java built (read back
    # through the preprocess command; it matches Python's within one step, see test above)
    run_cli(java_core, "preprocess", str(art / "manifest.json"), str(ppm), str(tmp_path / "in.bin"))
    x = np.fromfile(tmp_path / "in.bin", dtype=np.int8).astype(np.float64)
    logits = (4.0 * np.sin(0.37 * np.arange(50) + x.mean())).astype(np.float32)
    qz = np.clip(np.round(logits / np.float32(0.05)) + 2, -128, 127).astype(np.int8)
    deq = (qz.astype(np.float32) - 2) * np.float32(0.05)
    order = sorted(range(50), key=lambda i: (-deq[i], i))[:5]
    note = next(n for n in prof.notes if n.startswith("top5"))
    assert note == "top5 on the benchmark image: " + " ".join(f"{i}={m.labels[i]};" for i in order)


def test_incomplete_run_is_recorded(java_core, tmp_path):
    art, _ = make_artifact(tmp_path, "inc")
    run_cli(java_core, "bench", str(art), str(tmp_path / "o"), "--runs", "10", "--warmup", "2", "--fail-at", "7")
    prof = load_profile(tmp_path / "o" / "results.json")
    assert prof.complete is False
    assert prof.latency.n == 4 and prof.provenance.runs == 10
    assert any("run 5 of 10 failed" in n for n in prof.notes)


def test_failures_are_reported_on_the_result_line(java_core, tmp_path):
    art, m = make_artifact(tmp_path, "broken")
    (art / m.program_file).write_bytes(b"X" * m.file_bytes)  # same size, other bytes
    stdout = run_cli(java_core, "bench", str(art), str(tmp_path / "o"), "--run-id", "r1", expect=1)
    result = android_results.find_result(stdout, run_id="r1")
    assert result["status"] == "error" and result["stage"] == "manifest" and "sha256" in result["error"]
    with pytest.raises(android_results.AndroidResultError, match="stage 'manifest'"):
        android_results.check_ok(result)
    assert not (tmp_path / "o" / "results.json").exists()


def test_host_refuses_results_from_another_artifact(java_core, tmp_path):
    art, m = make_artifact(tmp_path, "a")
    run_cli(java_core, "bench", str(art), str(tmp_path / "o"), "--runs", "2", "--warmup", "0")
    other = m.model_copy(update={"file_sha256": "0" * 64})
    with pytest.raises(android_results.AndroidResultError, match="artifact_sha256"):
        android_results.read_app_results(tmp_path / "o" / "results.json", manifest=other)
    # a profile from another collector is not app output
    prof = load_profile(tmp_path / "o" / "results.json")
    foreign = prof.model_copy(update={"provenance": prof.provenance.model_copy(update={"collector": "litert-capi"})})
    save_profile(foreign, tmp_path / "foreign.json")
    with pytest.raises(android_results.AndroidResultError, match="collector"):
        android_results.read_app_results(tmp_path / "foreign.json")


def test_result_line_parsing_from_logcat_text():
    log = "\n".join(
        [
            "05-01 10:00:00.000  411  430 I EdgeExport: EDGE_EXPORT_RESULT "
            '{"status":"ok","run_id":"old","results":"/a/results.json","etdump":null,"model_id":"m","runs":5,"median_ms":1.0}',
            "05-01 10:00:01.000  411  430 I EdgeExport: EDGE_EXPORT_RESULT {not json",
            "05-01 10:00:02.000  411  430 I EdgeExport: EDGE_EXPORT_RESULT "
            '{"status":"error","run_id":"new","stage":"load","error":"cannot mmap"}',
            "05-01 10:00:03.000  999  999 I Other: unrelated",
        ]
    )
    assert [r["run_id"] for r in android_results.parse_result_lines(log)] == ["old", "new"]
    assert android_results.find_result(log, run_id="old")["results"] == "/a/results.json"
    assert android_results.find_result(log)["status"] == "error"
    assert android_results.find_result(log, run_id="missing") is None
