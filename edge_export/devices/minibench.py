"""Read ``benchmark_results.json``: the results format of ExecuTorch's Android benchmark app ("Minibench").

Minibench (``extension/benchmark/android/benchmark/`` in the ExecuTorch sources: ``BenchmarkMetric``,
``ModelRunner``, ``BenchmarkActivity``) writes, with Gson, one JSON list with a record per metric::

    [{"benchmarkModel": {"name": "mv3", "backend": "xnnpack", "quantization": "q8"},
      "metric": "avg_inference_latency(ms)", "actualValue": 12.3, "targetValue": 0.0,
      "deviceInfo": {"device": "samsung", "arch": "SM-S918B", "os": "Android 14", "totalMem": 0, "availMem": 0}},
     ...]

Metrics of a model run: ``avg_inference_latency(ms)`` (mean of the timed runs),
``trimmean_inference_latency(ms)`` (mean of the sorted runs from index n/10 up to, not including, n*9/10),
``model_load_time(ms)`` (Module.load + loadMethod("forward")), ``load_status`` (0, or ExecuTorch's error
code; then only the load time is there), ``ram_pss_usage(mb)`` (Debug.getPss() after the runs minus before
the load, kB / 1024). The LLM flow adds ``llm_model_load_time(ms)``, ``generate_time(ms)``,
``token_per_sec`` and a second ``load_status``. Minibench derives name/backend/quantization from a model
file named ``<name>_<backend>_<quantization>.pte`` (else name = the file stem, the others ""), fills
deviceInfo with Build.BRAND, Build.MODEL and "Android " + release, and its totalMem/availMem come from a
fresh ``ActivityManager.MemoryInfo()`` that nothing fills, so they are 0 in its files.

The Android app of this project (android_app/, core class ``MinibenchResults``) writes the same file beside
its results.json, from the same run: name = the manifest's model_id, backend/quantization = its target split
at the last '-', real memory figures in bytes.

:func:`read_benchmark_results` parses either into :class:`BenchmarkResults` (one :class:`ModelResult` per
benchmarkModel). A Minibench file alone does not make a profile (:mod:`edge_export.profile.schema`): it has no
per-run times, artifact hash, thread or run counts. What it adds to the profile of the same run (the app's
results.json) -- trimmed mean and PSS, load time when the profile has none -- :func:`add_to_profile` records,
naming the file as the source.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_export.errors import EdgeExportError, first_line
from edge_export.profile.schema import Profile

BENCHMARK_RESULTS_FILE = "benchmark_results.json"

AVG_LATENCY = "avg_inference_latency(ms)"
TRIMMEAN_LATENCY = "trimmean_inference_latency(ms)"
MODEL_LOAD_TIME = "model_load_time(ms)"
LOAD_STATUS = "load_status"
RAM_PSS_USAGE = "ram_pss_usage(mb)"

_NOT_MINIBENCH = "not a Minibench benchmark_results.json"


class MinibenchError(EdgeExportError, ValueError):
    """A benchmark_results.json that cannot be read, or that does not belong to the profile it should extend."""


@dataclass(frozen=True)
class DeviceInfo:
    device: str  # Build.BRAND, e.g. "samsung"
    arch: str  # Build.MODEL, e.g. "SM-S918B"
    os: str  # "Android <release>"
    total_mem: int  # bytes (ActivityManager.MemoryInfo); 0 in Minibench's own files
    avail_mem: int


@dataclass(frozen=True)
class ModelResult:
    """The records of one benchmarkModel. Latencies and load time in ms, PSS growth in MiB; None when absent."""

    name: str
    backend: str
    quantization: str
    avg_latency_ms: float | None
    trimmean_latency_ms: float | None
    load_ms: float | None
    pss_mb: float | None
    load_status: int | None  # 0 = loaded; ExecuTorch's error code otherwise (the first non-zero one)
    device: DeviceInfo  # from the model's first record
    metrics: dict[str, float]  # every metric by name (the last value where one repeats), LLM ones included

    @property
    def target(self) -> str:
        """backend-quantization, the way the app splits an edge-export target ("xnnpack-fp32")."""
        return f"{self.backend}-{self.quantization}" if self.quantization else self.backend

    @property
    def loaded(self) -> bool:
        return self.load_status in (None, 0)

    def describe(self) -> str:
        parts = []
        if not self.loaded:
            parts.append(f"load failed with status {self.load_status}")
        for label, value, fmt in (("avg", self.avg_latency_ms, "{:.3f} ms"),
                                  ("trimmed mean (middle 80 %)", self.trimmean_latency_ms, "{:.3f} ms"),
                                  ("model load", self.load_ms, "{:.1f} ms"),
                                  ("PSS growth over the run", self.pss_mb, "{:+.1f} MiB")):
            if value is not None:
                parts.append(f"{label} {fmt.format(value)}")
        d = self.device
        where = " ".join(x for x in (d.device, d.arch) if x) or "unknown device"
        return ", ".join(parts) + f" (deviceInfo: {where}, {d.os or 'unknown OS'})"


@dataclass(frozen=True)
class BenchmarkResults:
    path: Path
    models: tuple[ModelResult, ...]  # in the order their first record appears

    def find(self, name: str, target: str) -> ModelResult | None:
        """The results for an edge-export artifact (model_id, target), or None."""
        return next((m for m in self.models if m.name == name and m.target == target), None)


def _fail(path: Path, where: str, problem: str) -> MinibenchError:
    return MinibenchError(f"{path}: {where}{problem} ({_NOT_MINIBENCH})")


def _field(obj: dict, key: str, kind: type, noun: str, path: Path, where: str, parent: str = ""):
    """obj[key] if it is a ``kind``; else the error naming the field as ``parent + key``."""
    v = obj.get(key)
    if not isinstance(v, kind):
        got = "missing" if key not in obj else f"a {type(v).__name__}, not {noun}"
        raise _fail(path, where, f"field {parent}{key} is {got}")
    return v


def _number(obj: dict, key: str, path: Path, where: str, parent: str = "") -> float:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        got = "missing" if key not in obj else f"{json.dumps(v)[:40]}, not a number"
        raise _fail(path, where, f"field {parent}{key} is {got}")
    if not math.isfinite(v):
        raise _fail(path, where, f"field {parent}{key} is {v}, not a finite number")
    return float(v)


def _whole(obj: dict, key: str, path: Path, where: str, parent: str = "") -> int:
    v = _number(obj, key, path, where, parent)
    if not v.is_integer():
        raise _fail(path, where, f"field {parent}{key} is {v}, not a whole number")
    return int(v)


def parse_benchmark_results(data: Any, path: Path | str = BENCHMARK_RESULTS_FILE) -> BenchmarkResults:
    """Check and group decoded benchmark_results.json data (``path`` only names the source in errors)."""
    path = Path(path)
    if isinstance(data, dict):
        hint = ": the app's results.json is read by edge_export.devices.android_results" \
            if "schema_version" in data else ""
        raise _fail(path, "", f"holds a JSON object, not a list of records{hint}")
    if not isinstance(data, list):
        raise _fail(path, "", f"holds a JSON {type(data).__name__}, not a list of records")
    if not data:
        raise MinibenchError(f"{path} holds no records: the benchmark wrote nothing (did it run?)")
    groups: dict[tuple[str, str, str], dict] = {}
    for i, rec in enumerate(data):
        where = f"record {i}: "
        if not isinstance(rec, dict):
            raise _fail(path, where, f"is a {type(rec).__name__}, not an object")
        bm = _field(rec, "benchmarkModel", dict, "an object", path, where)
        key = tuple(_field(bm, k, str, "a string", path, where, "benchmarkModel.")
                    for k in ("name", "backend", "quantization"))
        metric = _field(rec, "metric", str, "a string", path, where)
        if not metric:
            raise _fail(path, where, "field metric is empty")
        value = _number(rec, "actualValue", path, where)
        _number(rec, "targetValue", path, where)
        di = _field(rec, "deviceInfo", dict, "an object", path, where)
        device = DeviceInfo(*(_field(di, k, str, "a string", path, where, "deviceInfo.")
                              for k in ("device", "arch", "os")),
                            *(_whole(di, k, path, where, "deviceInfo.") for k in ("totalMem", "availMem")))
        g = groups.setdefault(key, {"device": device, "metrics": {}, "status": []})
        if metric == LOAD_STATUS:
            if not value.is_integer():
                raise _fail(path, where, f"load_status is {value}, not a whole number")
            g["status"].append(int(value))
        g["metrics"][metric] = value
    models = []
    for (name, backend, quant), g in groups.items():
        m, status = g["metrics"], g["status"]
        models.append(ModelResult(
            name=name, backend=backend, quantization=quant,
            avg_latency_ms=m.get(AVG_LATENCY), trimmean_latency_ms=m.get(TRIMMEAN_LATENCY),
            load_ms=m.get(MODEL_LOAD_TIME), pss_mb=m.get(RAM_PSS_USAGE),
            load_status=next((s for s in status if s != 0), 0) if status else None,
            device=g["device"], metrics=dict(m)))
    return BenchmarkResults(path=path, models=tuple(models))


def read_benchmark_results(path: Path | str) -> BenchmarkResults:
    """Parse a benchmark_results.json written by Minibench or by this project's Android app."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MinibenchError(f"cannot read {path}: {first_line(e)}") from None
    if not text.strip():
        raise MinibenchError(f"{path} is empty: the benchmark stopped before writing its results")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise MinibenchError(f"{path} is not valid JSON ({first_line(e)}): {_NOT_MINIBENCH}") from None
    return parse_benchmark_results(data, path)


def add_to_profile(profile: Profile, results: BenchmarkResults, *, rel_tol: float = 1e-9) -> Profile:
    """The profile with what the Minibench file of the same run adds, in a note that names the file.

    The file must hold the profile's model and target, loaded, with an average equal to the profile's mean
    latency (the app writes both from the same runs): anything else is another run and is refused. The
    profile's load_ms is filled from model_load_time(ms) only when it has none.
    """
    prov = profile.provenance
    m = results.find(prov.model_id, prov.target)
    if m is None:
        have = ", ".join(f"{x.name} {x.target}" for x in results.models)
        raise MinibenchError(f"{results.path} has no results for {prov.model_id} {prov.target} (it has {have}): "
                             "not from this profile's run")
    if not m.loaded:
        raise MinibenchError(f"{results.path}: {m.name} {m.target} failed to load (status {m.load_status}), "
                             "but the profile has timed runs: not from this profile's run")
    if m.avg_latency_ms is not None and not math.isclose(m.avg_latency_ms, profile.latency.mean, rel_tol=rel_tol):
        raise MinibenchError(f"{results.path}: average {m.avg_latency_ms!r} ms is not the profile's mean latency "
                             f"{profile.latency.mean!r} ms: not from this profile's run")
    update: dict[str, Any] = {"notes": [*profile.notes, f"from {results.path.name} (ExecuTorch Minibench format): "
                                        + m.describe()]}
    if profile.load_ms is None and m.load_ms is not None:
        update["load_ms"] = m.load_ms
        update["notes"].append(f"load_ms is model_load_time(ms) from {results.path.name}")
    return profile.model_copy(update=update)


def add_file_to_profile(profile: Profile, path: Path | None) -> Profile:
    """add_to_profile for a pulled file that may be absent (an older app) or unusable: then the profile is kept
    as it is, with a note saying why the file was not used."""
    if path is None:
        return profile
    try:
        return add_to_profile(profile, read_benchmark_results(path))
    except MinibenchError as e:
        return profile.model_copy(update={"notes": [*profile.notes, f"{BENCHMARK_RESULTS_FILE} not used: {e}"]})
