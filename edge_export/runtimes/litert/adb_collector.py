"""TFLite on an Android device over adb: the user's ``benchmark_model`` with op profiling, CSV output.

Steps: push the .tflite and ``benchmark_model`` into /data/local/tmp/edge-export/...; run

    benchmark_model --graph=M --num_threads=T --num_runs=N --warmup_runs=W --min_secs=0 --warmup_min_secs=0
        --max_secs=... --use_xnnpack=true|false --enable_op_profiling=true
        --op_profiling_output_mode=csv --op_profiling_output_file=F

pull F, parse it (:func:`parse_op_profile_csv`) and the whole-model timings from the tool's log
(:func:`parse_benchmark_log`), and attribute the rows to modules with the host LiteRT collector's own
functions (TFLite ops -> module from their output tensor names; XNNPACK operators aligned to TFLite ops).

The CSV format is TensorFlow's (tensorflow/lite/tools/benchmark/profiling_listener.cc,
tensorflow/lite/profiling/profile_summarizer.cc, xla/tsl/util/stats_calculator.cc with format_as_csv):
after "Operator-wise Profiling Info for Regular Benchmark Runs:", a "Run Order" table with header
``node type, first, avg_ms, %, cdf%, mem KB, times called, name`` (older TensorFlow: a ``start`` column
after ``node type``). ``avg_ms`` is per CALL and ``times called`` is calls per run, so an op's time per
run is ``avg_ms x times called``. Builtin ops are named ``[output tensors]:<op index>``; XNNPACK operators
``Delegate/<operator>:<node index>`` with the operator as node type. Node types may contain ", "
(``Convolution (NHWC, F32) IGEMM``), so rows are parsed by their numeric columns, not by splitting.

What benchmark_model does not give, and how the profile says so: it reports per-op MEANS (first and
average) and, for the whole model, count/first/min/max/avg/std, never per-run values. Each row's stats are
therefore its mean (min = p10 = median = p90 = max = mean), the whole-model stats have the real n, min,
max and mean with p10/median/p90 set to the mean, and ``latency_ms`` is empty (no per-run values); notes
and provenance.options["latency_stats"] state it. It feeds its own random inputs (not the validation image).

Options: ``benchmark_model`` (path; else $EDGE_EXPORT_BENCHMARK_MODEL), ``kernel_mode`` (``delegate``
= XNNPACK, the default, or ``builtin``), plus those of edge_export.devices.adb_common. A disconnect at
any point raises DeviceDisconnected and no profile is returned.

Only exercised with the stand-in adb and stand-in benchmark_model of tests/fake_adb (real LiteRT runs on
this host, CSV written by a port of TensorFlow's formatter); no real phone was exercised.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge_export.artifacts import check_program_file
from edge_export.devices import adb_common as common
from edge_export.errors import EdgeExportError
from edge_export.profile.schema import Profile, Stats
from edge_export.profile.template import build_profile
from edge_export.runtimes.litert import profile_kernel_mode
from edge_export.versions import package_version

TOOL_ENV = "EDGE_EXPORT_BENCHMARK_MODEL"
TOOL_HOW = ("build TensorFlow Lite's benchmark_model for Android arm64 "
            "(bazel build -c opt --config=android_arm64 //tensorflow/lite/tools/benchmark:benchmark_model) "
            "or download the prebuilt android_aarch64_benchmark_model")
RUN_TIMEOUT_S = 1800.0
MAX_SECS = 3600
REGULAR_SECTION = "Operator-wise Profiling Info for Regular Benchmark Runs:"
INIT_SECTION = "Profiling Info for Benchmark Initialization:"

_NUM = r"-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
_ROW_TAIL = (rf"(?P<first>{_NUM}), (?P<avg>{_NUM}), (?P<pct>{_NUM})%, (?P<cdf>{_NUM})%, (?P<mem>{_NUM}), "
             rf"(?P<times>\d+), (?P<name>.*)$")
_ROW_RX = re.compile(r"^(?P<type>.*?), " + _ROW_TAIL)
_ROW_RX_OLD = re.compile(rf"^(?P<type>.*?), (?P<start>{_NUM}), " + _ROW_TAIL)  # TF < 2.16: with a start column
_HEADER = "node type, first, avg_ms, %, cdf%, mem KB, times called, name"
_HEADER_OLD = "node type, start, first, avg_ms, %, cdf%, mem KB, times called, name"
_INDEX_RX = re.compile(r":(\d+)$")
_COUNT_RX = re.compile(r"count=(\d+)(?: first=(\d+))? curr=(\d+)(?: min=(\d+) max=(\d+) avg=(\S+) std=(\d+))?")
_TIMINGS_RX = re.compile(r"Inference timings in us: Init: (\S+), First inference: (\S+), Warmup \(avg\): (\S+), "
                         r"Inference \(avg\): (\S+)")


class OpProfileError(EdgeExportError):
    pass


@dataclass(frozen=True)
class CsvRow:
    node_type: str
    first_ms: float
    avg_ms: float  # per call
    percent: float
    cdf_percent: float
    mem_kb: float
    times_called: int  # per run
    name: str
    subgraph: int = 0

    @property
    def per_run_ms(self) -> float:
        return self.avg_ms * self.times_called

    @property
    def delegated(self) -> bool:
        return self.name.startswith("Delegate/")

    @property
    def node_index(self) -> int | None:
        m = _INDEX_RX.search(self.name)
        return int(m.group(1)) if m else None


@dataclass
class OpProfile:
    rows: list[CsvRow]  # Run Order table(s) of the regular runs, in run order
    run_count: int | None  # from "Timings (microseconds): count=..." of the primary graph
    op_total_avg_us: float | None  # average per-run sum of the op events


def _f(s: str) -> float:
    return float("nan") if s.lower().endswith("nan") else float(s)


def parse_op_profile_csv(text: str, source: str = "op profile") -> OpProfile:
    """The Run Order rows of the regular-run section of a benchmark_model CSV op profile."""
    start = text.find(REGULAR_SECTION)
    if start < 0:
        raise OpProfileError(f"{source}: no '{REGULAR_SECTION}' section: not a benchmark_model CSV op profile "
                             "(or the tool stopped before writing it)")
    lines = text[start + len(REGULAR_SECTION):].splitlines()
    rows: list[CsvRow] = []
    subgraph = 0
    run_count = total = None
    i = 0
    saw_table = False
    while i < len(lines):
        line = lines[i].rstrip("\r")
        m = re.match(r"Subgraph \(index: (\d+)\) profile:", line)
        if m:
            subgraph = int(m.group(1))
        elif line.startswith("Primary graph profile:"):
            subgraph = 0
        elif line.startswith("=") and "Run Order" in line:
            header = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if header not in (_HEADER, _HEADER_OLD):
                raise OpProfileError(f"{source}: unexpected Run Order header {header!r} (want {_HEADER!r}): "
                                     "not CSV output (--op_profiling_output_mode=csv)")
            saw_table = True
            rx = _ROW_RX if header == _HEADER else _ROW_RX_OLD
            i += 2
            while i < len(lines) and lines[i].strip():
                rm = rx.match(lines[i].rstrip("\r"))
                if rm is None:
                    raise OpProfileError(f"{source}: line {lines[i][:120]!r} is not a CSV op row: corrupted file")
                rows.append(CsvRow(rm.group("type"), _f(rm.group("first")), _f(rm.group("avg")), _f(rm.group("pct")),
                                   _f(rm.group("cdf")), _f(rm.group("mem")), int(rm.group("times")),
                                   rm.group("name").replace("\t", ","), subgraph))
                i += 1
            continue
        elif line.startswith("Timings (microseconds):") and subgraph == 0 and run_count is None:
            c = _COUNT_RX.search(line)
            if c:
                run_count = int(c.group(1))
                total = _f(c.group(6)) if c.group(6) else float(c.group(3))
        i += 1
    if not saw_table:
        raise OpProfileError(f"{source}: the regular-run section has no Run Order table: truncated or corrupted")
    if not rows:
        raise OpProfileError(f"{source}: the Run Order table is empty (no op events were recorded)")
    return OpProfile(rows, run_count, total)


@dataclass
class BenchmarkTimings:
    init_us: float | None
    first_us: float | None
    warmup_avg_us: float | None
    count: int
    min_us: float
    max_us: float
    avg_us: float
    std_us: float | None


def parse_benchmark_log(text: str) -> BenchmarkTimings:
    """Whole-model timings from benchmark_model's log: the regular runs' ``count=... min=... max=... avg=...``
    line and ``Inference timings in us: Init: ..., First inference: ..., Warmup (avg): ..., Inference (avg): ...``."""
    t = _TIMINGS_RX.search(text)
    if t is None:
        raise OpProfileError("benchmark_model printed no 'Inference timings in us' line: it did not finish")
    blocks = [m.end() for m in re.finditer(r"Running benchmark for at least", text)]
    c = _COUNT_RX.search(text, blocks[-1]) if blocks else None
    if c is None:
        raise OpProfileError("benchmark_model printed no run statistics (count=...) for the regular runs")
    count = int(c.group(1))
    if c.group(4):
        mn, mx, avg, std = float(c.group(4)), float(c.group(5)), _f(c.group(6)), float(c.group(7))
    else:  # all runs took the same time: "count=N curr=X"
        mn = mx = avg = float(c.group(3))
        std = 0.0
    vals = [_f(v) for v in t.groups()]
    return BenchmarkTimings(vals[0], vals[1], None if math.isnan(vals[2]) else vals[2], count, mn, mx, avg, std)


def _mean_stats(n: int, mean: float, mn: float | None = None, mx: float | None = None) -> Stats:
    return Stats(n=n, min=mn if mn is not None else mean, p10=mean, median=mean, p90=mean,
                 max=mx if mx is not None else mean, mean=mean)


def rows_from_csv(op: OpProfile, graph, modules, runs: int, kernel_mode: str):
    """Rows in the profile format, attributed with the host LiteRT collector's functions."""
    from edge_export.runtimes.litert.host_collector import _builtin_rows, _delegate_rows

    events = []
    for seq, r in enumerate(op.rows):
        idx = r.node_index
        if idx is None:
            continue
        kind = "delegate_op" if r.delegated else "op"
        tag = r.node_type if r.delegated else r.node_type.split("/", 1)[0]
        events.append({"name": tag, "kind": kind, "op_index": idx, "run": 0, "ms": r.per_run_ms, "seq": seq,
                       "subgraph": r.subgraph})
    if kernel_mode == "delegate" or any(e["kind"] == "delegate_op" for e in events):
        rows, notes = _delegate_rows(events, graph, modules, 1)
    else:
        rows, notes = _builtin_rows(events, graph, modules, 1)
    merged = {(r.node_type, r.node_index): r.times_called for r in op.rows if r.delegated and r.times_called > 1}
    out = []
    for row in rows:
        stats = _mean_stats(runs, row.stats.mean)
        upd = {"stats": stats}
        if row.delegate and (row.name, row.index) in merged:
            upd.update(module_path=None, attribution="unattributed",
                       reason=f"benchmark_model merged {merged[(row.name, row.index)]} XNNPACK operators named "
                              f"'Delegate/{row.name}:{row.index}' (one per delegate partition) into one row")
        out.append(row.model_copy(update=upd))
    if merged:
        notes.append(f"{len(merged)} CSV rows aggregate operators of several XNNPACK partitions (same name and node "
                     "index): left unattributed")
    return out, notes


def _run_tool(req, dev, tool: Path, model: Path, kernel_mode: str, keep: bool) -> tuple["BenchmarkTimings", str]:
    """benchmark_model on the device with op profiling to CSV: (its timings, the CSV's text)."""
    rdir = common.remote_dir(req.manifest, "tflite")
    r_model, r_tool, r_csv = f"{rdir}/{model.name}", f"{rdir}/benchmark_model", f"{rdir}/op_profile.csv"
    with tempfile.TemporaryDirectory(prefix="adb-tflite-") as tmp:
        req.progress(f"pushing {model.name} and benchmark_model to {rdir}")
        dev.mkdir(rdir)
        dev.remove(r_csv)
        dev.push(model, r_model)
        dev.push_executable(tool, r_tool)
        args = ["./benchmark_model", f"--graph={r_model}", f"--num_threads={req.threads}", f"--num_runs={req.runs}",
                f"--warmup_runs={req.warmup}", "--min_secs=0", "--warmup_min_secs=0", f"--max_secs={MAX_SECS}",
                f"--use_xnnpack={'true' if kernel_mode == 'delegate' else 'false'}", "--enable_op_profiling=true",
                "--op_profiling_output_mode=csv", f"--op_profiling_output_file={r_csv}"]
        req.progress(f"benchmark_model ({kernel_mode}), {req.warmup} warm-up + {req.runs} runs, "
                     f"{req.threads} thread(s)")
        res = common.run_on_device(dev, args, rdir, RUN_TIMEOUT_S, "benchmark_model")
        if res.status != 0:
            raise EdgeExportError(f"benchmark_model failed on {dev.serial} (exit status {res.status}): "
                                  f"{common.tail(res.output)}")
        timings = parse_benchmark_log(res.output)
        if not dev.exists(r_csv):
            raise EdgeExportError(f"benchmark_model on {dev.serial} wrote no op profile at {r_csv} "
                                  f"(its log ends: {common.tail(res.output, 3)})")
        local = dev.pull(r_csv, Path(tmp) / "op_profile.csv")
        common.cleanup(dev, rdir, keep)
        try:
            return timings, local.read_text()
        except UnicodeDecodeError:
            raise OpProfileError(f"the op profile pulled from {dev.serial} is not text: corrupted") from None


def _notes(rows, latency: Stats, timings: "BenchmarkTimings", kernel_mode: str, dev, device_info, tool) -> list[str]:
    op_total = sum(r.stats.mean for r in rows)
    attributed = sum(r.stats.mean for r in rows if r.module_path)
    return [
        f"{100 * attributed / op_total if op_total else 0:.1f} % of op time attributed to modules ({kernel_mode} mode)",
        f"ran on {dev.serial} ({device_info.get('model', '?')}, {device_info.get('soc', '?')}) with {tool.name} over "
        f"adb; {len(rows)} op rows sum to {op_total:.3f} ms = "
        f"{100 * op_total / latency.mean if latency.mean else 0:.1f} % "
        f"of the mean whole-run latency {latency.mean:.3f} ms",
        "benchmark_model reports means only: each row's stats are its mean time per run (avg per call x calls per "
        "run); whole-run n/min/max/mean are the tool's, p10/median/p90 are set to the mean, and latency_ms is "
        f"empty (no per-run values; std {timings.std_us / 1e3 if timings.std_us is not None else float('nan'):.3f} ms)",
        "inputs were benchmark_model's own random data, not the validation image",
    ]


def collect(req) -> Profile:
    from edge_export.attribution.tflite_graph import read_tflite_graph
    from edge_export.attribution.tflite_names import artifact_op_modules

    manifest = req.manifest
    opts = dict(req.options or {})
    kernel_mode = profile_kernel_mode(opts)
    model = check_program_file(req.artifact_dir, manifest)
    try:
        graph = read_tflite_graph(model)
    except ValueError as e:
        raise EdgeExportError(f"{model}: {e} (re-export the artifact)") from None
    tool = common.tool_path(opts, "benchmark_model", TOOL_ENV, "benchmark_model", TOOL_HOW)
    dev = common.device_for(req)
    device_info = dev.info()
    timings, text = _run_tool(req, dev, tool, model, kernel_mode, common.flag(opts.get("keep_remote")))
    op = parse_op_profile_csv(text, f"op profile from {dev.serial}")
    if op.run_count is not None and op.run_count != timings.count:
        raise EdgeExportError(f"the op profile covers {op.run_count} runs but benchmark_model reported "
                              f"{timings.count}: the files do not belong together")
    if timings.count < req.runs:
        raise EdgeExportError(f"benchmark_model on {dev.serial} ran {timings.count} of {req.runs} runs "
                              "(--max_secs reached?): incomplete, nothing was written")
    req.progress("attributing ops to modules")
    with common.ATTRIBUTION_LOCK:
        modules, rebuild_error = artifact_op_modules(manifest, graph)
        rows, notes = rows_from_csv(op, graph, modules, timings.count, kernel_mode)
    if rebuild_error:
        notes.append(rebuild_error)
    latency = Stats(n=timings.count, min=timings.min_us / 1e3, p10=timings.avg_us / 1e3,
                    median=timings.avg_us / 1e3, p90=timings.avg_us / 1e3, max=timings.max_us / 1e3,
                    mean=timings.avg_us / 1e3)
    notes[:0] = _notes(rows, latency, timings, kernel_mode, dev, device_info, tool)
    return build_profile(
        req, where=f"adb:{dev.serial}", device=device_info, runtime_version=package_version("ai-edge-litert"),
        collector="benchmark_model-csv", runs=timings.count,
        latency_ms=[], latency=latency, load_ms=timings.init_us / 1e3 if timings.init_us is not None else None,
        first_run_ms=timings.first_us / 1e3 if timings.first_us else None, rows=rows, notes=notes,
        options={"kernel_mode": kernel_mode, "tool": str(tool), "input": "random (benchmark_model)",
                 "latency_stats": "mean only: p10/median/p90 = mean; no per-run values",
                 "runtime_version_note": "version of the host's ai-edge-litert package; the tool's is not reported"},
    )
