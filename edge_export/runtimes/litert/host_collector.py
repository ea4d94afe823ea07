"""TFLite on the host: LiteRT's own profiler (C API of the ai-edge-litert wheel) -> Profile.

The measurement runs in a child process (``python -m edge_export.runtimes.litert.host_collector``) that
imports only numpy and :mod:`edge_export.runtimes.litert.capi`: its peak RSS is that of a process that loads
and runs the model (not of this one, which also holds PyTorch), and a crash inside libLiteRt (a
corrupted file can segfault it) becomes an error message instead of killing the caller.

Kernel modes (``options={"kernel_mode": ...}``):

* ``delegate`` (default, what ships): XNNPACK runs the graph; one row per XNNPACK operator,
  attributed by aligning XNNPACK nodes to TFLite ops (``aligned``). Unless
  ``options={"cross_check": False}``, a short builtin-mode run follows and the per-stage shares
  of both are compared in the profile's notes.
* ``builtin``: TFLite's builtin kernels, one row per TFLite op (``exact``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_export.artifacts import check_program_file
from edge_export.errors import EdgeExportError
from edge_export.profile.schema import OpRow, Profile, Provenance, Stats

CROSS_CHECK_RUNS = 3
_CHILD_TIMEOUT_S = 3600


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


# --------------------------------------------------------------------------------------------
# Child process: load, run, profile; write plain JSON.


def _events_json(profile) -> list[dict]:
    keep = []
    for e in profile.events:
        if e.is_op or (e.kind == "runtime" and e.name == "Invoke"):
            keep.append({"name": e.name, "kind": e.kind, "op_index": e.op_index, "run": e.run,
                         "ms": e.elapsed_ms, "seq": e.seq, "subgraph": e.metadata2})
    return keep


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM belongs to the address space exec created; ru_maxrss would
    carry over the parent's high-water mark across fork+exec (the parent holds PyTorch)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    from edge_export.profile.host_info import peak_rss_mb

    return peak_rss_mb()


def _measure(req: dict) -> dict:
    import time

    from edge_export.runtimes.litert.capi import LiteRtProfiledModel

    x = np.load(req["input"])
    out: dict = {}
    t0 = time.perf_counter()
    with LiteRtProfiledModel(req["model"], threads=req["threads"], kernel_mode=req["kernel_mode"]) as m:
        out["load_ms"] = (time.perf_counter() - t0) * 1e3
        warmup = req["warmup"]
        if warmup >= 1:
            t0 = time.perf_counter()
            m.run([x])
            out["first_run_ms"] = (time.perf_counter() - t0) * 1e3
            warmup -= 1
        c0, w0 = time.process_time(), time.perf_counter()
        p = m.profile([x], runs=req["runs"], warmup=warmup)
        c1, w1 = time.process_time(), time.perf_counter()
        # CPU time of all threads vs wall time over the profiled calls: tells whether other
        # processes took the cores away (per-op medians then exclude the preempted stretches).
        out["cpu_over_wall"] = (c1 - c0) / max(w1 - w0, 1e-9)
        if "first_run_ms" not in out:
            out["first_run_ms"] = p.whole_run_ms[0]
        out["whole_run_ms"] = p.whole_run_ms
        out["events"] = _events_json(p)
        out["input_names"] = [i.name for i in m.inputs]
    out["peak_rss_mb"] = _peak_rss_mb()
    if req.get("cross_check_runs"):
        with LiteRtProfiledModel(req["model"], threads=req["threads"], kernel_mode="builtin") as m:
            p = m.profile([x], runs=req["cross_check_runs"], warmup=1)
            out["cross_check"] = {"whole_run_ms": p.whole_run_ms, "events": _events_json(p)}
    return out


def _child_main(argv: list[str]) -> int:
    from edge_export.runtimes.litert.capi import LiteRtError

    req = json.loads(Path(argv[0]).read_text())
    try:
        result = _measure(req)
    except (LiteRtError, ValueError, OSError) as e:
        result = {"error": f"{type(e).__name__}: {e}"}
    Path(req["out"]).write_text(json.dumps(result))
    return 0 if "error" not in result else 2


def _run_child(model: Path, x: np.ndarray, kernel_mode: str, threads: int, runs: int, warmup: int,
               cross_check_runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="litert-profile-") as tmp:
        tmp = Path(tmp)
        np.save(tmp / "input.npy", x)
        req = {"model": str(model), "input": str(tmp / "input.npy"), "kernel_mode": kernel_mode,
               "threads": threads, "runs": runs, "warmup": warmup, "cross_check_runs": cross_check_runs,
               "out": str(tmp / "result.json")}
        (tmp / "request.json").write_text(json.dumps(req))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[3]),
                                                             os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.run([sys.executable, "-m", "edge_export.runtimes.litert.host_collector", str(tmp / "request.json")],
                              capture_output=True, text=True, env=env, timeout=_CHILD_TIMEOUT_S)
        result_path = tmp / "result.json"
        if proc.returncode < 0 or not result_path.is_file():
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
            raise EdgeExportError(f"LiteRT crashed while profiling {model} ({how}); last output:\n{tail}")
        result = json.loads(result_path.read_text())
    if "error" in result:
        raise EdgeExportError(f"LiteRT could not profile {model}: {result['error']}")
    return result


# --------------------------------------------------------------------------------------------
# Events -> rows.


def _program_input(manifest) -> tuple[np.ndarray, str]:
    from edge_export.images import validation_batch
    from edge_export.runtimes.base import to_program_input

    names, batch = validation_batch(manifest.preprocessing, 1)
    return to_program_input(batch.numpy(), manifest.inputs[0]), names[0]


def _op_modules(manifest, graph):
    """Module of each TFLite op, or (None, why) for all when the PyTorch model cannot be rebuilt."""
    from edge_export.attribution.tflite import OpModule, op_modules

    try:
        from edge_export.models import load_from_source
        from edge_export.models.export_form import export_form

        root, _ = export_form(load_from_source(manifest.source))
    except Exception as e:  # noqa: BLE001 - any failure to rebuild leaves the profile unattributed
        why = f"the PyTorch model could not be rebuilt from the manifest's source ({type(e).__name__}: {e})"
        return [OpModule(None, why) for _ in graph.ops], why
    return op_modules(graph, root), None


def _stats(per_run: dict[int, float], runs: int) -> Stats:
    return Stats.of([per_run.get(r, 0.0) for r in range(runs)])


def _builtin_rows(events: list[dict], graph, modules, runs: int) -> tuple[list[OpRow], list[str]]:
    """Rows of builtin-kernel events: one per TFLite op index, module from its own tensors."""
    times: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    names: dict[int, str] = {}
    foreign = Counter()
    for e in events:
        if e["kind"] != "op":
            continue
        i = e["op_index"]
        if e["subgraph"] != graph.subgraph or i is None or not 0 <= i < len(graph.ops):
            foreign[e["name"]] += 1
            continue
        times[i][e["run"]] += e["ms"]
        names[i] = e["name"]
    rows = []
    for i in sorted(times):
        op, om = graph.ops[i], modules[i]
        reason = f"TFLite op {i} {op.opcode}: module from its output tensor names"
        if om.module_path is None:
            reason = f"TFLite op {i} {op.opcode}: {om.reason}"
        elif om.reason:
            reason += f" ({om.reason})"
        rows.append(OpRow(name=names[i], kind=_kind(names[i]), index=i, stats=_stats(times[i], runs),
                          module_path=om.module_path, attribution="exact" if om.module_path else "unattributed",
                          reason=reason))
    notes = []
    if foreign:
        notes.append("op events not of the signature's subgraph (left out of the rows): "
                     + ", ".join(f"{k} x{v // max(runs, 1)}" for k, v in foreign.items()))
    return rows, notes


def _kind(name: str) -> str:
    from edge_export.profile.op_kinds import op_kind

    return op_kind(name)


def _run_sequence(events: list[dict], graph, run: int) -> tuple[list[tuple], Counter]:
    """Operator events of one run in execution order, keyed so runs can be matched up:
    ``("op", tflite_index)`` for builtin kernels, ``("xnn", partition, node)`` for XNNPACK
    operators (node indices restart at 0 in each delegate partition)."""
    seq, foreign = [], Counter()
    part, prev = -1, None
    for e in sorted((e for e in events if e["run"] == run), key=lambda e: e["seq"]):
        if e["kind"] == "op":
            i = e["op_index"]
            if e["subgraph"] != graph.subgraph or i is None or not 0 <= i < len(graph.ops):
                foreign[e["name"]] += 1  # e.g. a delegate kernel's own node: would count its operators twice
                continue
            seq.append((("op", i), e))
            prev = None
        elif e["kind"] == "delegate_op":
            if prev is None or e["op_index"] <= prev:
                part += 1
            prev = e["op_index"]
            seq.append((("xnn", part, e["op_index"]), e))
    return seq, foreign


def _delegate_rows(events: list[dict], graph, modules, runs: int) -> tuple[list[OpRow], list[str]]:
    """One row per operator of the run, in execution order: XNNPACK operators aligned to TFLite ops,
    plus any op left to builtin kernels (exact)."""
    from edge_export.attribution.tflite import align_xnn_to_tflite, execution_order

    notes: list[str] = []
    seq, foreign = _run_sequence(events, graph, 0)
    if foreign:
        notes.append("op events outside the signature's ops (left out of the rows): "
                     + ", ".join(f"{k} x{v}" for k, v in foreign.items()))
    times: dict[tuple, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    differs = False
    for run in range(runs):
        run_seq = seq if run == 0 else _run_sequence(events, graph, run)[0]
        differs |= [k for k, _ in run_seq] != [k for k, _ in seq]
        for key, e in run_seq:
            times[key][run] += e["ms"]
    if differs:
        notes.append("the operator sequence differed between runs: aligned on run 0's")
    if not seq:
        return [], notes + ["no operator events were recorded"]
    order = execution_order(graph.ops, {key[1] for key, _ in seq if key[0] == "op"})
    position = {op_index: k for k, op_index in enumerate(order)}
    al = align_xnn_to_tflite([e["name"] for _, e in seq], [graph.ops[k].opcode for k in order],
                             anchors=[position[key[1]] if key[0] == "op" else None for key, _ in seq])
    parts = len({key[1] for key, _ in seq if key[0] == "xnn"})
    rows = []
    for mt in al.matches:
        key, e = seq[mt.event]
        name, stats = e["name"], _stats(times[key], runs)
        if key[0] == "op":
            where = f"builtin kernel of TFLite op {key[1]}"
        else:
            where = f"XNNPACK node {key[2]}" + (f" of delegate partition {key[1]}" if parts > 1 else "")
        common = dict(name=name, kind=_kind(name), index=mt.event, stats=stats,
                      delegate="XNNPACK" if key[0] == "xnn" else None)
        if mt.op is None:
            rows.append(OpRow(**common, reason=f"{where}: no TFLite op of a compatible kind at its position"))
            continue
        op, om = graph.ops[order[mt.op]], modules[order[mt.op]]
        how = {"matched": "aligned to", "exact": "is", "expansion": "extra operator of",
               "prep-for-next": "prepares the input of"}[mt.how]
        reason = f"{where}" if mt.how == "exact" else f"{where} {how} TFLite op {op.index} {op.opcode}"
        if mt.fused:
            reason += " (+ fused " + ", ".join(f"{order[k]} {graph.ops[order[k]].opcode}" for k in mt.fused) + ")"
        if om.module_path is None:
            reason += f": {om.reason}"
        elif om.reason:
            reason += f" ({om.reason})"
        attribution = "unattributed" if om.module_path is None else "exact" if mt.how == "exact" else "aligned"
        rows.append(OpRow(**common, module_path=om.module_path, attribution=attribution, reason=reason))
    fused_kinds = Counter(graph.ops[order[k]].opcode for m in al.matches for k in m.fused)
    lost = [i for i, why in al.skipped_ops.items() if "fused into" not in why]
    count = Counter(m.how for m in al.matches)
    notes.append(
        f"alignment: {count['matched'] + count['expansion'] + count['prep-for-next'] + len(al.orphans)} XNNPACK "
        f"operators in {parts} delegate partition(s) and {count['exact']} builtin-kernel ops to {len(graph.ops)} "
        f"TFLite ops ({count['matched']} matched, {count['expansion']} extra, {count['prep-for-next']} input "
        f"preparation, {len(al.orphans)} unmatched; ops fused into a neighbour: "
        + (", ".join(f"{k} x{v}" for k, v in fused_kinds.most_common()) or "none")
        + (f"; ops with no operator: {len(lost)}" if lost else "") + f"; cost {al.cost:.1f})"
    )
    return rows, notes


def _cross_check_notes(rows: list[OpRow], builtin_rows: list[OpRow], builtin_ms: list[float]) -> list[str]:
    from edge_export.profile.rollup import ModuleTree, rollup

    tree = ModuleTree([r.module_path for r in rows] + [r.module_path for r in builtin_rows])
    a = {m.key: m.ms for m in rollup(rows, "stage", tree)}
    b = {m.key: m.ms for m in rollup(builtin_rows, "stage", tree)}
    ta, tb = sum(a.values()) or 1.0, sum(b.values()) or 1.0
    keys = list(dict.fromkeys([*a, *b]))
    diffs = {k: 100 * (a.get(k, 0) / ta - b.get(k, 0) / tb) for k in keys}
    worst = max(keys, key=lambda k: abs(diffs[k]))
    frac = sum(r.stats.median for r in builtin_rows if r.module_path) / tb
    return [
        f"cross-check, builtin kernels ({len(builtin_ms)} runs, median {float(np.median(builtin_ms)):.2f} ms, "
        f"{100 * frac:.1f} % exactly attributed): per-stage share XNNPACK vs builtin: "
        + ", ".join(f"{k} {100 * a.get(k, 0) / ta:.0f}/{100 * b.get(k, 0) / tb:.0f} %" for k in keys)
        + f"; largest difference {abs(diffs[worst]):.1f} points ({worst})"
    ]


# --------------------------------------------------------------------------------------------


def collect(req) -> Profile:
    from importlib.metadata import PackageNotFoundError, version

    from edge_export.profile.host_info import host_device
    from edge_export.attribution.tflite import read_tflite_graph

    manifest = req.manifest
    opts = dict(req.options or {})
    kernel_mode = str(opts.get("kernel_mode", "delegate"))
    if kernel_mode not in ("delegate", "builtin"):
        raise EdgeExportError(f"kernel_mode must be 'delegate' or 'builtin', got {kernel_mode!r}")
    cross_check = kernel_mode == "delegate" and _flag(opts.get("cross_check", True))
    model = check_program_file(req.artifact_dir, manifest)
    try:
        graph = read_tflite_graph(model)
    except ValueError as e:
        raise EdgeExportError(f"{model}: {e} (re-export the artifact)") from None
    x, image = _program_input(manifest)

    req.progress(f"profiling {model.name} with LiteRT ({kernel_mode}, {req.threads} threads, {req.runs} runs)")
    res = _run_child(model, x, kernel_mode, req.threads, req.runs, req.warmup, CROSS_CHECK_RUNS if cross_check else 0)
    req.progress("attributing ops to modules")
    modules, rebuild_error = _op_modules(manifest, graph)
    runs = len(res["whole_run_ms"])
    if kernel_mode == "delegate":
        rows, notes = _delegate_rows(res["events"], graph, modules, runs)
    else:
        rows, notes = _builtin_rows(res["events"], graph, modules, runs)
    if rebuild_error:
        notes.append(rebuild_error)
    if "cross_check" in res:
        cc = res["cross_check"]
        brows, _ = _builtin_rows(cc["events"], graph, modules, len(cc["whole_run_ms"]))
        notes += _cross_check_notes(rows, brows, cc["whole_run_ms"])

    latency = Stats.of(res["whole_run_ms"])
    op_total = sum(r.stats.median for r in rows)
    invoke = [e["ms"] for e in res["events"] if e["kind"] == "runtime" and e["name"] == "Invoke"]
    notes.insert(0, (
        f"{len(rows)} op rows sum to {op_total:.3f} ms = {100 * op_total / latency.median:.1f} % of the median "
        f"whole-run latency {latency.median:.3f} ms (wall time around LiteRtRunCompiledModel"
        + (f"; interpreter Invoke median {float(np.median(invoke)):.3f} ms" if invoke else "") + ")"
    ))
    mean_total = sum(r.stats.mean for r in rows)
    notes.insert(1, f"per-op means sum to {100 * mean_total / latency.mean:.1f} % of the mean whole-run latency "
                    f"{latency.mean:.3f} ms (the time outside operators: LiteRT buffer registration/sync, Invoke set-up)")
    cpu = res.get("cpu_over_wall")
    if cpu is not None and cpu < 0.7 * min(req.threads, os.cpu_count() or 1):
        notes.insert(2, (
            f"the profiled runs got {cpu:.2f} CPU-seconds per wall-second with {req.threads} thread(s): other "
            "processes were competing for the cores, so whole-run times include preempted stretches that "
            "per-op medians leave out (rows sum below the whole-run median); profile on an idle machine"
        ))
    share = {a: sum(r.stats.median for r in rows if r.attribution == a) / op_total if op_total else 0.0
             for a in ("exact", "aligned")}
    notes.insert(0, f"{100 * (share['exact'] + share['aligned']):.1f} % of op time attributed to modules "
                    f"({kernel_mode} mode: {100 * share['aligned']:.1f} % aligned XNNPACK operators, "
                    f"{100 * share['exact']:.1f} % exact builtin-kernel ops)")
    try:
        rt_version = version("ai-edge-litert")
    except PackageNotFoundError:
        rt_version = None
    prov = Provenance(
        where="host", device=host_device(), runtime="litert",
        runtime_version=rt_version, collector="litert-capi", model_id=manifest.model_id, target=manifest.target,
        artifact_sha256=manifest.file_sha256, threads=req.threads, runs=runs, warmup=req.warmup,
        collected_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        options={"kernel_mode": kernel_mode, "input": f"image:{image}", "cross_check": str(cross_check).lower(),
                 **({"cpu_per_wall": f"{cpu:.2f}"} if cpu is not None else {})},
    )
    return Profile(
        provenance=prov, latency_ms=res["whole_run_ms"], latency=latency, load_ms=res["load_ms"],
        first_run_ms=res["first_run_ms"], peak_rss_mb=res["peak_rss_mb"], rows=rows, notes=notes,
    )


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
