"""Attribute a whole ExecuTorch program's XNNPACK delegate calls (and portable instructions) to modules.

From the `.pte` (its XNNPACK delegates' XNodes, edge_export.attribution.xnnpack_blob), one ETDump of
its executions (edge_export.attribution.etdump) and its ETRecord (edge_export.attribution.etrecord):
every delegate call's operator events are aligned to its XNodes (edge_export.attribution.xnnpack), and
every non-delegated instruction is charged to a module through the ETRecord's instruction -> debug
handle map.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Iterable

from edge_export.attribution.etdump import DelegateRun, EtdumpProfile, read_etdump_profile
from edge_export.attribution.etrecord import (
    debug_handle_module_map,
    edge_program,
    fused_handle_map,
    innermost_module,
    instruction_handles,
    load_etrecord,
    model_io_handles,
)
from edge_export.attribution.xnnpack import (
    AlignmentReport,
    Attribution,
    attribute_delegate_events,
    attributed_fraction,
    time_by_module,
)
from edge_export.attribution.xnnpack_blob import XnnGraphInfo, read_xnnpack_delegates
from edge_export.attribution.xnnpack_graph import DelegateGraph


@dataclass
class DelegateAttribution:
    graph: XnnGraphInfo
    chain_index: int
    instruction_id: int
    attributions: list[Attribution]  # durations = median over runs
    runs: int
    delegate_call_time: float | None  # median DELEGATE_CALL duration (includes delegate overhead)
    report: AlignmentReport

    @property
    def operator_time(self) -> float:
        return sum(a.duration for a in self.attributions)


@dataclass
class RunTotals:
    """Per-execution sums (ticks), for shares that are consistent within one run."""

    delegate_ops: float = 0.0
    delegate_ops_attributed: float = 0.0
    delegate_calls: float = 0.0
    portable: float = 0.0
    portable_attributed: float = 0.0
    method: float | None = None


@dataclass
class ProgramAttribution:
    delegates: list[DelegateAttribution]
    # Non-delegated instructions (OPERATOR_CALL), attributed through the ETRecord's
    # instruction -> debug handle map; how="portable-op".
    portable: list[Attribution] = field(default_factory=list)
    method_time: float | None = None  # median Method::execute
    runs: dict[int, RunTotals] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def attributions(self) -> list[Attribution]:
        """Operator events inside XNNPACK delegates."""
        return [a for d in self.delegates for a in d.attributions]

    def attributed_fraction(self) -> float:
        """Share of XNNPACK operator time inside delegates that got a module."""
        return attributed_fraction(self.attributions)

    def time_by_module(self, include_portable: bool = False) -> dict[str, float]:
        return time_by_module(self.attributions + (self.portable if include_portable else []))

    def coverage(self) -> dict[str, float]:
        """Where the method's time went and how much has a module: medians over executions of
        per-execution sums and shares (so that the parts of one share come from one run)."""
        rs = list(self.runs.values())
        if not rs:
            return {}

        def med(f) -> float:
            vals = [f(r) for r in rs]
            vals = [v for v in vals if v is not None]
            return statistics.median(vals) if vals else math.nan

        out = {
            "delegate_operator_time": med(lambda r: r.delegate_ops),
            "delegate_operator_share_attributed": med(
                lambda r: r.delegate_ops_attributed / r.delegate_ops if r.delegate_ops else None
            ),
            "delegate_call_time": med(lambda r: r.delegate_calls),
            "delegate_overhead": med(lambda r: r.delegate_calls - r.delegate_ops),
            "portable_time": med(lambda r: r.portable),
            "portable_share_attributed": med(
                lambda r: r.portable_attributed / r.portable if r.portable else None
            ),
        }
        if any(r.method for r in rs):
            out["method_time"] = med(lambda r: r.method)
            out["attributed_share_of_method"] = med(
                lambda r: (r.delegate_ops_attributed + r.portable_attributed) / r.method if r.method else None
            )
        return out


def attribute_program(
    pte_path: str | PathLike[str],
    etdump_path: str | PathLike[str],
    etrecord: Any,
    *,
    method: str = "forward",
    skip_runs: int = 0,
) -> ProgramAttribution:
    """Attribute every XNNPACK delegate call (and every portable instruction) of ``method``.

    Per-event durations are medians over the recorded executions, after ``skip_runs`` warm-up
    executions. ``etrecord``: an ``ETRecord`` or the path of a saved one.
    """
    etrecord = load_etrecord(etrecord)
    dh_map = debug_handle_module_map(etrecord, method)
    model_io = model_io_handles(etrecord, method)
    instr_handles = instruction_handles(etrecord, method)
    by_instr: dict[tuple[int, int], XnnGraphInfo] = {}
    for g in read_xnnpack_delegates(pte_path):
        if g.plan_name == method:
            for ci_ii in g.instruction_ids:
                by_instr[ci_ii] = g
    prof = read_etdump_profile(etdump_path)
    grouped: dict[tuple[int, int], list[DelegateRun]] = defaultdict(list)
    for r in prof.delegate_runs:
        if r.run_index >= skip_runs:
            grouped[(r.chain_index, r.instruction_id)].append(r)
    result = ProgramAttribution(delegates=[])
    times = [t for r, t in prof.method_times.items() if r >= skip_runs]
    result.method_time = statistics.median(times) if times else None
    for r, t in prof.method_times.items():
        if r >= skip_runs:
            result.runs.setdefault(r, RunTotals()).method = t
    for key in sorted(grouped):
        g = by_instr.get(key)
        if g is None:
            result.warnings.append(f"delegate events at chain {key[0]} instruction {key[1]} belong to no XNNPACK delegate")
            continue
        delegate = _attribute_delegate(key, g, grouped[key], etrecord, dh_map, model_io, instr_handles.get(key[1]),
                                       method, result)
        result.delegates.append(delegate)
    _attribute_portable(prof, skip_runs, instr_handles, dh_map, result)
    return result


def _attribute_delegate(key, g: XnnGraphInfo, rs: list[DelegateRun], etrecord, dh_map, model_io, handles,
                        method: str, result: "ProgramAttribution") -> "DelegateAttribution":
    """One delegate call's events (medians over the runs that ran the same operators) -> attributions."""
    names = [n for n, _ in rs[0].events]
    usable = [r for r in rs if [n for n, _ in r.events] == names]
    if len(usable) != len(rs):
        result.warnings.append(
            f"instruction {key}: {len(rs) - len(usable)} run(s) had a different operator list and were ignored"
        )
    med = [statistics.median(r.events[k][1] for r in usable) for k in range(len(names))]
    fused = None
    inferred: dict[int, int] = {}
    if handles:
        inferred = infer_missing_handles(etrecord, g, handles, method)
        xh = [x.debug_handle for x in g.xnodes if x.debug_handle is not None] + list(inferred.values())
        fused = fused_handle_map(etrecord, handles, xh, method)
    rep: list[AlignmentReport] = []
    attrs = attribute_delegate_events(
        list(zip(names, med)), g, dh_map, inferred_handles=inferred, fused_handles=fused, model_io=model_io,
        report=rep,
    )
    for r in usable:
        tot = result.runs.setdefault(r.run_index, RunTotals())
        tot.delegate_ops += sum(d for _, d in r.events)
        tot.delegate_ops_attributed += sum(d for (_, d), a in zip(r.events, attrs) if a.attributed)
        tot.delegate_calls += r.delegate_call_duration or 0.0
    calls = [r.delegate_call_duration for r in usable if r.delegate_call_duration is not None]
    return DelegateAttribution(
        graph=g, chain_index=key[0], instruction_id=key[1], attributions=attrs, runs=len(usable),
        delegate_call_time=statistics.median(calls) if calls else None, report=rep[0],
    )


def _attribute_portable(prof: EtdumpProfile, skip_runs: int, instr_handles, dh_map, result: "ProgramAttribution") -> None:
    """Portable (non-delegated) instructions, charged through the ETRecord's instruction -> handle map."""
    op_calls: dict[tuple[int, int], list[float]] = defaultdict(list)
    for run, ci, ii, dur in prof.operator_calls:
        if run >= skip_runs:
            op_calls[(ci, ii)].append(dur)
    for k, (ci, ii) in enumerate(sorted(op_calls)):
        hs = instr_handles.get(ii, [])
        mods = [dh_map[h] for h in hs if h in dh_map]
        result.portable.append(Attribution(
            event_index=k,
            name=f"OPERATOR_CALL instruction {ii}",
            duration=statistics.median(op_calls[(ci, ii)]),
            module_path=mods[0] if mods else None,
            debug_handles=tuple(hs),
            how="portable-op" if mods else "unattributed",
            reason=None if mods else f"instruction {ii} has no debug handle with a module in the ETRecord",
        ))
    portable_attr = {(ci, ii) for (ci, ii), a in zip(sorted(op_calls), result.portable) if a.attributed}
    for run, ci, ii, dur in prof.operator_calls:
        if run >= skip_runs:
            tot = result.runs.setdefault(run, RunTotals())
            tot.portable += dur
            if (ci, ii) in portable_attr:
                tot.portable_attributed += dur


_ACTIVATION_TARGETS = ("relu", "hardtanh", "clamp", "getitem")


def _nearest_handled(g: DelegateGraph, xi: int, up: bool) -> set[int]:
    """Debug handles of the nearest XNodes with one, upstream (producers) or downstream (consumers) of `xi`."""
    return g.nearest_labels(xi, up, lambda nb: g.nodes[nb].debug_handle)


def _closure(start: Iterable, up: bool) -> set:
    """Every FX node upstream (`up`) or downstream of `start`."""
    seen: set = set()
    stack = list(start)
    while stack:
        nd = stack.pop()
        for nb in (nd.all_input_nodes if up else nd.users):
            if nb not in seen:
                seen.add(nb)
                stack.append(nb)
    return seen


def infer_missing_handles(
    etrecord: Any,
    graph: XnnGraphInfo,
    delegate_handles: Iterable[int],
    method: str = "forward",
) -> dict[int, int]:
    """{xnode index: debug handle} for XNodes written without a handle (``DEFAULT_DEBUG_HANDLE``)
    that are not layout transposes/reshapes, e.g. the 1x1 depthwise convolution XNNPACK's
    DecomposeBatchNorm pass makes from a batch norm it cannot fold.

    The FX node is searched between the XNode's nearest handled producers P and consumers C in
    the edge graph: FX nodes downstream of P and upstream of C whose handle belongs to the
    delegate but reached no XNode. Activations and getitems (folded into their producer's
    output clamp) are ignored. The handle is used only when the candidates agree on one module.
    """
    _, ep = edge_program(etrecord, method)
    nodes = graph.xnodes
    g = DelegateGraph(list(nodes), {}, {})
    present = {x.debug_handle for x in nodes if x.debug_handle is not None}
    missing = set(delegate_handles) - present
    by_handle: dict[int, list] = defaultdict(list)
    for node in ep.graph.nodes:
        dh = node.meta.get("debug_handle")
        if node.op == "call_function" and isinstance(dh, int):
            by_handle[dh].append(node)
    out: dict[int, int] = {}
    for x in nodes:
        if x.debug_handle is not None or x.kind in ("XNNStaticTranspose", "XNNStaticReshape", "XNNCopy"):
            continue
        p_nodes = [n for h in _nearest_handled(g, x.index, True) for n in by_handle.get(h, [])]
        c_nodes = [n for h in _nearest_handled(g, x.index, False) for n in by_handle.get(h, [])]
        if p_nodes or c_nodes:
            region = _closure(p_nodes, up=False) if p_nodes else None
            if c_nodes:
                anc = _closure(c_nodes, up=True)
                region = anc if region is None else region & anc
            pool: Iterable = region or ()
        else:
            # No handled XNode around it (a delegate made of this node alone, as per-op
            # lowering produces): any FX node of the delegate that reached no XNode.
            pool = [n for h in missing for n in by_handle.get(h, [])]
        cands = {
            n.meta["debug_handle"]
            for n in pool
            if n.op == "call_function"
            and n.meta.get("debug_handle") in missing
            and not any(t in str(getattr(n.target, "__name__", n.target)) for t in _ACTIVATION_TARGETS)
        }
        mods = {innermost_module(by_handle[h][0]) for h in cands}
        if len(cands) >= 1 and len(mods) == 1:
            out[x.index] = min(cands)
    return out
