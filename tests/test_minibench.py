"""benchmark_results.json, the results format of ExecuTorch's Android benchmark app (Minibench):
edge_export.devices.minibench reads files written by this project's app (its Java core, MinibenchResults, run
here through ContractCli as in tests/test_android_contract.py) and files in the shape Minibench itself writes.

The Minibench shape below is taken from ExecuTorch's sources, pytorch/executorch main at
cff6f4dd32e630945b7188512c1f2b4f102b05ad,
extension/benchmark/android/benchmark/app/src/main/java/org/pytorch/minibench/:
BenchmarkMetric.kt (the record's fields), ModelRunner.kt (metrics, units, trimmed mean), BenchmarkActivity.kt
(Gson().toJson of the list), LlmBenchmark.kt (the LLM metrics). No phone and no Minibench build ran here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from edge_export.devices import android_app, minibench
from edge_export.devices.minibench import MinibenchError, add_file_to_profile, add_to_profile, read_benchmark_results
from edge_export.errors import EdgeExportError
from edge_export.profile.schema import load_profile
from test_adb_collectors import dev, fake  # noqa: F401  (fixture: the stand-in adb of tests/fake_adb)
from test_android_contract import java_core, make_artifact, run_cli  # noqa: F401  (fixture: the compiled core)

# ----------------------------------------------------------------------------- written by the app's Java core


def _bench(java_core, tmp_path, name="mb", runs=23, warmup=2, run_ns=(12_345_678, 11_000_001, 13_250_000, 40_000_000)):
    art, m = make_artifact(tmp_path, name)
    out = tmp_path / f"{name}-files"
    run_cli(java_core, "bench", str(art), str(out), "--runs", str(runs), "--warmup", str(warmup),
            "--load-ns", "81500000", "--run-ns", ",".join(map(str, run_ns)), "--pss-kb", "51200,97536",
            "--mem-bytes", "7900000000,3100000000", "--device", "brand=google", "--device", "model=Pixel 8",
            "--device", "android_version=14")
    return m, out


def test_reads_the_file_the_java_core_writes(java_core, tmp_path):
    m, out = _bench(java_core, tmp_path)
    path = out / minibench.BENCHMARK_RESULTS_FILE
    raw = json.loads(path.read_text())
    # Minibench's record, field for field and in Gson's order (BenchmarkMetric.kt lines 14-34)
    assert [list(r) for r in raw] == [["benchmarkModel", "metric", "actualValue", "targetValue", "deviceInfo"]] * 5
    assert list(raw[0]["deviceInfo"]) == ["device", "arch", "os", "totalMem", "availMem"]
    assert [r["metric"] for r in raw] == ["avg_inference_latency(ms)", "trimmean_inference_latency(ms)",
                                          "model_load_time(ms)", "load_status", "ram_pss_usage(mb)"]
    prof = load_profile(out / "results.json")  # the same run's profile

    res = read_benchmark_results(path)
    assert res.path == path and len(res.models) == 1
    r = res.models[0]
    assert (r.name, r.backend, r.quantization, r.target) == (m.model_id, "xnnpack", "fp32", m.target)
    assert res.find(m.model_id, m.target) is r
    assert r.avg_latency_ms == prof.latency.mean  # the same double: both are numpy's mean of the same runs
    lat = np.sort(np.asarray(prof.latency_ms))
    n = lat.size
    assert r.trimmean_latency_ms == float(lat[n // 10: n * 9 // 10].mean())  # ModelRunner.kt lines 63-64
    assert r.load_ms == prof.load_ms == 81.5
    assert r.pss_mb == (97536 - 51200) / 1024  # kB -> MiB, ModelRunner.kt line 85
    assert r.load_status == 0 and r.loaded
    assert r.device == minibench.DeviceInfo("google", "Pixel 8", "Android 14", 7_900_000_000, 3_100_000_000)
    assert set(r.metrics) == {minibench.AVG_LATENCY, minibench.TRIMMEAN_LATENCY, minibench.MODEL_LOAD_TIME,
                              minibench.LOAD_STATUS, minibench.RAM_PSS_USAGE}

    merged = add_to_profile(prof, res)
    (note,) = [x for x in merged.notes if x not in prof.notes]
    assert note.startswith("from benchmark_results.json (ExecuTorch Minibench format): ")
    assert f"trimmed mean (middle 80 %) {r.trimmean_latency_ms:.3f} ms" in note
    assert "PSS growth over the run +45.2 MiB" in note and "google Pixel 8, Android 14" in note
    assert merged.load_ms == prof.load_ms and merged.latency == prof.latency  # measurements untouched
    # a profile without load_ms takes it from the file, saying so
    bare = add_to_profile(prof.model_copy(update={"load_ms": None}), res)
    assert bare.load_ms == 81.5 and "load_ms is model_load_time(ms) from benchmark_results.json" in bare.notes


def test_few_runs_trim_like_minibench(java_core, tmp_path):
    # n = 1: Minibench's slice [0, 0) is empty (Java: 0.0, Kotlin: NaN that Gson refuses); the app keeps the run
    _, out = _bench(java_core, tmp_path, "one", runs=1, warmup=0, run_ns=(7_000_000,))
    assert read_benchmark_results(out / "benchmark_results.json").models[0].trimmean_latency_ms == 7.0
    # n = 5: [0, 4): only the slowest run goes
    _, out = _bench(java_core, tmp_path, "five", runs=5, warmup=0, run_ns=(3_000_000, 1_000_000, 2_000_000, 9_000_000,
                                                                          4_000_000))
    assert read_benchmark_results(out / "benchmark_results.json").models[0].trimmean_latency_ms == 2.5


def test_another_runs_file_is_refused_for_a_profile(java_core, tmp_path):
    _, out_a = _bench(java_core, tmp_path, "a", run_ns=(10_000_000,))
    _, out_b = _bench(java_core, tmp_path, "b", run_ns=(20_000_000,))
    prof_a = load_profile(out_a / "results.json")
    res_b = read_benchmark_results(out_b / "benchmark_results.json")
    with pytest.raises(MinibenchError, match=r"average 20\.0 ms is not the profile's mean latency 10\.0 ms"):
        add_to_profile(prof_a, res_b)
    other = prof_a.model_copy(update={"provenance": prof_a.provenance.model_copy(update={"target": "xnnpack-int8"})})
    with pytest.raises(MinibenchError, match="has no results for swiftformer_xs xnnpack-int8 .it has swiftformer_xs "
                                             "xnnpack-fp32.: not from this profile's run"):
        add_to_profile(other, res_b)
    # while collecting, an unusable file only costs a note
    kept = add_file_to_profile(prof_a, out_b / "benchmark_results.json")
    assert kept.latency == prof_a.latency and kept.notes[-1].startswith("benchmark_results.json not used: ")
    assert add_file_to_profile(prof_a, None) == prof_a  # an app build from before the file


# ----------------------------------------------------------------------------- written by Minibench itself


def minibench_model(model_file: str) -> dict:
    """BenchmarkMetric.extractBackendAndQuantization (BenchmarkMetric.kt lines 40-51) on the file name without
    ".pte" (ModelRunner.kt line 40). Kotlin's Regex is java.util.regex: ASCII \\w, matchEntire = fullmatch."""
    stem = model_file.removesuffix(".pte")
    m = re.fullmatch(r"(?P<name>\w+)_(?P<backend>[\w+]+)_(?P<quantization>\w+)", stem, re.ASCII)
    return m.groupdict() if m else {"name": stem, "backend": "", "quantization": ""}


def gson(records: list[dict]) -> str:
    """Gson().toJson(results) (BenchmarkActivity.kt lines 64-68): compact, fields in declaration order, doubles
    as Java's Double.toString (the values below print the same in Python), longs as integers."""
    return json.dumps(records, separators=(",", ":"))


def minibench_record(model: dict, metric: str, value: float) -> dict:
    # BenchmarkMetric(benchmarkModel, metric, actualValue, targetValue) + deviceInfo = DeviceInfo()
    # (BenchmarkMetric.kt lines 14-34): Build.BRAND, Build.MODEL, "Android " + Build.VERSION.RELEASE, and
    # totalMem/availMem of a MemoryInfo() nobody fills: 0. targetValue is 0.0 everywhere (ModelRunner.kt).
    return {"benchmarkModel": model, "metric": metric, "actualValue": value, "targetValue": 0.0,
            "deviceInfo": {"device": "samsung", "arch": "SM-S911B", "os": "Android 14", "totalMem": 0, "availMem": 0}}


def test_reads_minibench_own_file(tmp_path):
    model = minibench_model("mv3_xnnpack_q8.pte")
    assert model == {"name": "mv3", "backend": "xnnpack", "quantization": "q8"}
    latency = [5.1, 4.9, 5.0, 5.3, 4.8, 12.0, 5.2, 5.0, 4.95, 5.05]  # ms, (nanoTime delta) * 1e-6
    trimmed = sorted(latency)[len(latency) // 10: len(latency) * 9 // 10]
    # ModelRunner.runBenchmark, successful load (ModelRunner.kt lines 66-85), in its order
    records = [
        minibench_record(model, "avg_inference_latency(ms)", sum(latency) / len(latency)),
        minibench_record(model, "trimmean_inference_latency(ms)", sum(trimmed) / len(trimmed)),
        minibench_record(model, "model_load_time(ms)", 38.417291),
        minibench_record(model, "load_status", 0.0),  # errorCode.toDouble()
        minibench_record(model, "ram_pss_usage(mb)", 23.35546875),  # (getPss() - pssIdle) / 1024.0
    ]
    path = tmp_path / "benchmark_results.json"
    path.write_text(gson(records))
    (r,) = read_benchmark_results(path).models
    assert (r.name, r.backend, r.quantization, r.target) == ("mv3", "xnnpack", "q8", "xnnpack-q8")
    assert r.avg_latency_ms == records[0]["actualValue"] == pytest.approx(5.73)
    assert r.trimmean_latency_ms == records[1]["actualValue"] == pytest.approx(5.0625)  # 12.0 and 4.8 dropped
    assert (r.load_ms, r.pss_mb, r.load_status) == (38.417291, 23.35546875, 0)
    assert r.device == minibench.DeviceInfo("samsung", "SM-S911B", "Android 14", 0, 0)
    assert "deviceInfo: samsung SM-S911B, Android 14" in r.describe()

    # a file name outside name_backend_quantization: the whole stem is the name
    assert minibench_model("model.pte") == {"name": "model", "backend": "", "quantization": ""}
    # '+' is allowed in the backend only; \w is greedy, so the name takes every '_' it can
    assert minibench_model("llama3_2_xnnpack+custom+qe_fp32.pte") == {
        "name": "llama3_2", "backend": "xnnpack+custom+qe", "quantization": "fp32"}


def test_reads_minibench_load_failure_and_llm_flow(tmp_path):
    failed = minibench_model("dl3_qnn_q8.pte")
    # a failed loadMethod: load time and the error code only (ModelRunner.kt lines 42-47)
    p = tmp_path / "failed.json"
    p.write_text(gson([minibench_record(failed, "model_load_time(ms)", 2.047917),
                       minibench_record(failed, "load_status", 34.0)]))
    (r,) = read_benchmark_results(p).models
    assert r.load_status == 34 and not r.loaded and r.avg_latency_ms is None and r.load_ms == 2.047917
    assert r.describe().startswith("load failed with status 34, model load 2.0 ms")

    # with a tokenizer, ModelRunner's records then LlmBenchmark.onGenerationStopped's (LlmBenchmark.kt lines
    # 62-78), which repeat load_status
    llm = minibench_model("llama3_2_xnnpack+custom+qe_fp32.pte")
    recs = [minibench_record(llm, name, v) for name, v in [
        ("avg_inference_latency(ms)", 310.5), ("trimmean_inference_latency(ms)", 305.25),
        ("model_load_time(ms)", 1210.0), ("load_status", 0.0), ("ram_pss_usage(mb)", 1480.5),
        ("load_status", 0.0), ("llm_model_load_time(ms)", 1333.0), ("generate_time(ms)", 4021.7),
        ("token_per_sec", 31.25)]]
    p = tmp_path / "llm.json"
    p.write_text(gson(recs))
    (r,) = read_benchmark_results(p).models
    assert r.loaded and r.metrics["token_per_sec"] == 31.25 and r.metrics["llm_model_load_time(ms)"] == 1333.0
    assert r.target == "xnnpack+custom+qe-fp32"
    recs[5] = minibench_record(llm, "load_status", 1.0)  # the LLM runner's load failed after ModelRunner's load
    p.write_text(gson(recs))
    assert read_benchmark_results(p).models[0].load_status == 1


# ----------------------------------------------------------------------------- bad input


GOOD = {"benchmarkModel": {"name": "m", "backend": "xnnpack", "quantization": "fp32"},
        "metric": "avg_inference_latency(ms)", "actualValue": 1.5, "targetValue": 0.0,
        "deviceInfo": {"device": "d", "arch": "a", "os": "Android 14", "totalMem": 0, "availMem": 0}}


def _with(path: tuple, value) -> str:
    rec = json.loads(json.dumps(GOOD))
    *outer, last = path
    target = rec
    for k in outer:
        target = target[k]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return json.dumps([GOOD, rec])


@pytest.mark.parametrize("text, message", [
    ("", "is empty: the benchmark stopped before writing its results"),
    ("[{\"benchmarkModel\": ", "is not valid JSON"),
    ('{"schema_version": 1, "provenance": {}}', "holds a JSON object, not a list of records: the app's results.json "
                                                "is read by edge_export.devices.android_results"),
    ("3", "holds a JSON int, not a list of records"),
    ("[]", "holds no records"),
    ('["x"]', "record 0: is a str, not an object"),
    (_with(("benchmarkModel",), KeyError), "record 1: field benchmarkModel is missing"),
    (_with(("benchmarkModel", "name"), 7), "record 1: field benchmarkModel.name is a int, not a string"),
    (_with(("metric",), ""), "record 1: field metric is empty"),
    (_with(("actualValue",), "1.5"), 'record 1: field actualValue is "1.5", not a number'),
    (_with(("actualValue",), True), "record 1: field actualValue is true, not a number"),
    (_with(("actualValue",), float("nan")), "record 1: field actualValue is nan, not a finite number"),
    (_with(("targetValue",), KeyError), "record 1: field targetValue is missing"),
    (_with(("deviceInfo",), []), "record 1: field deviceInfo is a list, not an object"),
    (_with(("deviceInfo", "totalMem"), KeyError), "record 1: field deviceInfo.totalMem is missing"),
    (_with(("deviceInfo", "availMem"), 1.5), "record 1: field deviceInfo.availMem is 1.5, not a whole number"),
    (_with(("metric",), "load_status"), "record 1: load_status is 1.5, not a whole number"),
], ids=lambda v: v[:24] if isinstance(v, str) else None)
def test_malformed_files_are_one_line_errors(tmp_path, text, message):
    p = tmp_path / "benchmark_results.json"
    p.write_text(text)
    with pytest.raises(MinibenchError) as e:
        read_benchmark_results(p)
    assert isinstance(e.value, EdgeExportError)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(p)) and message in msg, msg


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(MinibenchError, match=r"^cannot read .*nothing\.json: \[Errno 2\] No such file"):
        read_benchmark_results(tmp_path / "nothing.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00[")
    with pytest.raises(MinibenchError, match="^cannot read .*bin.json: 'utf-8' codec can't decode"):
        read_benchmark_results(tmp_path / "bin.json")


# ----------------------------------------------------------------------------- collected over (stand-in) adb


def _wait_for(path: Path, timeout: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_collect_pulls_the_minibench_file(fake, java_core, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("FAKE_ADB_APP_CLASSES", str(java_core))
    fake.devices(dev("FAKE01", packages=["com.edgeexport.bench"]))
    art, _ = make_artifact(tmp_path, "art")
    android_app.deploy(art, "FAKE01", runs=12, warmup=1, threads=2)
    profile, path = android_app.collect("FAKE01", poll=0.2, timeout=120)
    assert load_profile(path) == profile and profile.provenance.where == "adb:FAKE01"
    (note,) = [n for n in profile.notes if "Minibench" in n]
    # the stand-in app: PSS 40960 -> 102400 kB (ContractCli's defaults), deviceInfo from the device's properties
    assert "PSS growth over the run +60.0 MiB" in note and "deviceInfo: Google Pixel 8, Android 14" in note
    assert sorted(p.name for p in art.glob("profile-*")) == ["profile-adb_FAKE01.json"]  # nothing else left

    # an app build from before benchmark_results.json: collect works as it did, no note
    android_app.deploy(art, "FAKE01", runs=3, warmup=0)
    mb = fake.device_path("FAKE01", f"{android_app.EXTERNAL_FILES}/{minibench.BENCHMARK_RESULTS_FILE}")
    _wait_for(mb)  # written (renamed into place) before the app logs its result line
    mb.unlink()
    profile, _ = android_app.collect("FAKE01", tmp_path / "old-app.json", poll=0.2, timeout=120)
    assert profile.latency.n == 3 and not [n for n in profile.notes if "Minibench" in n or "benchmark_results" in n]
