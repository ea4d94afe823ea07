"""TFLite on the host: LiteRT's own profiler (C API of the ai-edge-litert wheel) -> Profile.

The measurement runs in a child process (:mod:`edge_export.runtimes.litert.profile_child` through
:mod:`edge_export.child`) that imports only numpy and :mod:`edge_export.runtimes.litert.capi`: its peak RSS is that of a process that loads
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

import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_export.artifacts import check_program_file
from edge_export.errors import EdgeExportError
from edge_export.profile.schema import OpRow, Profile, Stats
from edge_export.attribution.tflite_names import artifact_op_modules
from edge_export.profile.template import build_profile, program_input
from edge_export.runtimes.litert import profile_kernel_mode
from edge_export.versions import package_version

CROSS_CHECK_RUNS = 3
_CHILD_TIMEOUT_S = 3600


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


def _run_child(model: Path, x: np.ndarray, kernel_mode: str, threads: int, runs: int, warmup: int,
               cross_check_runs: int) -> dict:
    """The measurement in a child (edge_export.runtimes.litert.profile_child, through edge_export.child)."""
    from edge_export.child import ChildFailed, call, signal_name

    with tempfile.TemporaryDirectory(prefix="litert-profile-") as tmp:
        np.save(Path(tmp) / "input.npy", x)
        req = {"model": str(model), "input": str(Path(tmp) / "input.npy"), "kernel_mode": kernel_mode,
               "threads": threads, "runs": runs, "warmup": warmup, "cross_check_runs": cross_check_runs}
        try:
            return call("edge_export.runtimes.litert.profile_child:measure", req, what=f"profiling {model}",
                        timeout=_CHILD_TIMEOUT_S)
        except ChildFailed as e:
            if e.returncode == 1:  # the measurement raised: LiteRT refused the model or a call
                raise EdgeExportError(f"LiteRT could not profile {model}: {str(e).split(': ', 1)[-1]}") from None
            how = f"signal {signal_name(e.returncode)}" if signal_name(e.returncode) else f"exit code {e.returncode}"
            raise EdgeExportError(f"LiteRT crashed while profiling {model} ({how}): "
                                  f"{str(e).split(': ', 1)[-1] if ': ' in str(e) else e}") from None


# --------------------------------------------------------------------------------------------
# Events -> rows.


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
    from edge_export.attribution.tflite import align_xnn_to_tflite
    from edge_export.attribution.tflite_graph import execution_order

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


@dataclass
class Plan:
    """What a LiteRT profile measures: the checked program file, its graph, the program input and the kernel mode
    (shared with the Arm guest's collector, runtimes/litert/qemu_collector.py)."""

    model: Path
    graph: object
    x: np.ndarray
    image: str
    kernel_mode: str
    cross_check: bool

    @property
    def cross_check_runs(self) -> int:
        return CROSS_CHECK_RUNS if self.cross_check else 0


def plan_profile(req) -> Plan:
    from edge_export.attribution.tflite_graph import read_tflite_graph

    opts = dict(req.options or {})
    kernel_mode = profile_kernel_mode(opts)
    model = check_program_file(req.artifact_dir, req.manifest)
    try:
        graph = read_tflite_graph(model)
    except ValueError as e:
        raise EdgeExportError(f"{model}: {e} (re-export the artifact)") from None
    x, image = program_input(req.manifest)
    return Plan(model, graph, x, image, kernel_mode,
                kernel_mode == "delegate" and _flag(opts.get("cross_check", True)))


def collect(req) -> Profile:
    plan = plan_profile(req)
    req.progress(f"profiling {plan.model.name} with LiteRT ({plan.kernel_mode}, {req.threads} threads, "
                 f"{req.runs} runs)")
    res = _run_child(plan.model, plan.x, plan.kernel_mode, req.threads, req.runs, req.warmup, plan.cross_check_runs)
    return profile_from_events(req, plan, res, runtime_version=package_version("ai-edge-litert"),
                               collector="litert-capi", peak_rss_mb=res["peak_rss_mb"])


def profile_from_events(req, plan: Plan, res: dict, *, options: dict | None = None, notes_first=(),
                        **build) -> Profile:
    """The profile of profile_child.measure's result `res`: rows attributed to modules, the notes on coverage and
    timing; `build`: build_profile's provenance (collector, runtime_version, where, device, simulator...)."""
    manifest, kernel_mode = req.manifest, plan.kernel_mode
    req.progress("attributing ops to modules")
    modules, rebuild_error = artifact_op_modules(manifest, plan.graph)
    runs = len(res["whole_run_ms"])
    if kernel_mode == "delegate":
        rows, notes = _delegate_rows(res["events"], plan.graph, modules, runs)
    else:
        rows, notes = _builtin_rows(res["events"], plan.graph, modules, runs)
    if rebuild_error:
        notes.append(rebuild_error)
    if "cross_check" in res:
        cc = res["cross_check"]
        brows, _ = _builtin_rows(cc["events"], plan.graph, modules, len(cc["whole_run_ms"]))
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
    return build_profile(
        req, runs=runs, latency_ms=res["whole_run_ms"], latency=latency, load_ms=res["load_ms"],
        first_run_ms=res["first_run_ms"], rows=rows, notes=[*notes_first, *notes],
        options={"kernel_mode": kernel_mode, "input": f"image:{plan.image}",
                 "cross_check": str(plan.cross_check).lower(),
                 **({"cpu_per_wall": f"{cpu:.2f}"} if cpu is not None else {}), **(options or {})},
        **build,
    )
