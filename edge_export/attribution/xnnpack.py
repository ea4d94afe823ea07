"""Attribute the per-operator times XNNPACK reports inside ONE delegate to PyTorch modules.

With ETDump enabled, ExecuTorch's XNNPACK delegate logs one profiling event per XNNPACK runtime
operator ("Convolution (NHWC, F32) IGEMM #2", "Fully Connected (NC, F32) GEMM #1", ...;
backends/xnnpack/runtime/profiling/XNNProfiler.cpp), with ``delegate_debug_id = -1``: nothing
links an event back to a graph node. This module rebuilds that link:

* ``edge_export.attribution.xnnpack_blob`` reads the delegate's serialised XNNPACK graph from the ``.pte``:
  the ordered XNodes, each with the ``debug_handle`` of the FX node it was written for.
* XNNPACK creates its runtime operators from those nodes in the same order, after its subgraph
  rewriting, which can fuse or drop some nodes and turn some into a differently named operator.
  ``attribute_delegate_events`` aligns the runtime operator sequence with the XNode sequence by
  operator family (``edge_export.attribution.align`` with the cost table in ``xnnpack_costs``), so every event gets the XNode it
  ran for, hence a debug handle.
* ``debug_handle_module_map`` maps debug handles to the innermost ``nn_module_stack`` entry of
  the FX nodes in the ETRecord's edge-dialect program (the program the delegate was cut from).

Alignment rules (measured with ExecuTorch 1.5.1's XNNPACK, and read from XNNPACK's
``xnn_subgraph_fusion`` / ``xnn_subgraph_optimize_common_subgraphs``):

* 1:1 in order is the normal case: XNNPACK creates one runtime operator per remaining subgraph
  node, in node order, and its rewrites replace a node in place. The operator name's family
  (text before " (", normalised) must fit the XNode kind (``xnnpack_costs._KIND_FAMILIES``): a 1x1 stride-1
  unpadded ``XNNConv2d`` runs as "Fully Connected (NC, F32) GEMM", ``XNNGlobalAvgPooling2d`` as
  "Mean (ND) Reduce2", ``XNNStaticReshape`` as "Static Reshape (NC)" (or a copy).
* Known rewrites (``_KIND_REWRITES``, small cost): ``mul(x, x)`` -> "Square" (only when both
  inputs are the same value; seen in the attention's normalize), min/max with a static scalar
  -> "Clamp", a spurious clamp or no-op binary -> "Copy", ``sub(0, x)`` -> "Negate"; a unary node
  (GELU, sigmoid, ...) between a dequantize and a quantize runs as one int8 operator XNNPACK names
  "Invalid Unary Op" (``UNNAMED_UNARY_FAMILY``; the two converts become no operator).
* An XNode may produce no operator (``xnnpack_costs.ELIDABLE_KINDS``, cheap to skip): a clamp merged into
  its producer's activation, a zero constant pad fused into the following convolution,
  reshape(reshape) merged, reshapes of static shapes and copies elided. It is reported in
  ``Attribution.fused_xnodes`` of the operator that absorbed it (producer; consumer for a pad).
  Skipping any other kind is allowed but costly and shows in ``AlignmentReport.skipped``.
* An XNode may produce several operators (e.g. concatenation as copies): extra events of a
  compatible family continue the previous XNode (``how="expansion"``).
* Operators that prepare the next one's input (LHS packing, converts XNNPACK inserts) with no
  XNode of their own are charged to the next operator (``how="prep-for-next"``).
* Quantize/dequantize converts (XNNConvert of an int8 program) whose FX nodes have no module of their
  own (the quantizer inserts them outside any module: their ``nn_module_stack`` is the root's) follow
  the quantization annotation that made them (``xnnpack_graph.DelegateGraph.conversion_owner``): a quantize
  (float -> int8) or requantize belongs to the module whose INPUT it quantizes, its consumer
  (``how="quantize-for-consumer"``); a dequantize (int8 -> float) to the module whose OUTPUT it
  dequantizes, its producer (``how="dequantize-of-producer"``; PT2E's own grouping of debug handles
  already puts most dequantizes with their producer's op). Consumers in several modules share their
  innermost common module. Converting the MODEL's input or output belongs to no module: the
  pseudo-modules ``(input)``/``(output)`` (``model_io`` handles, from the ETRecord), and so do the
  layout transposes charged to such a convert.
* Anything left is unattributed, with a reason.
* XNodes written without an FX node (``DEFAULT_DEBUG_HANDLE``): the NCHW<->NHWC transposes
  ExecuTorch's ChannelsLastTaggedReshapePass inserts are charged to the XNode producing their
  input, else the one consuming their output (``how="layout-from-producer"/"-consumer"``); other
  kinds (the 1x1 depthwise convolution the DecomposeBatchNorm pass makes from a batch norm that
  could not be folded) get their FX node back from the edge graph (``infer_missing_handles``,
  ``how="inferred-handle"``).
* FX nodes folded away before serialisation (batch norm into the convolution, ReLU into the
  convolution's output clamp, getitem) have no XNode; when the ETRecord says which handles the
  delegate covers they are listed in ``Attribution.fused_debug_handles`` of the operator that
  absorbed them (``fused_handle_map``), and ``fold_map`` turns that into a module mapping.

``edge_export.attribution.xnnpack_program.attribute_program`` does all of it for every XNNPACK
delegate call of a program from the ``.pte``, its ETDump and its ETRecord. The alignment itself is the
package's one aligner (``edge_export.attribution.align``) with the cost table in ``xnnpack_costs``;
``tests/xnnpack_crosscheck.py`` cross-checks the result against ``XnnpackPartitioner(per_op_mode=True)``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from edge_export.attribution.align import MATCH
from edge_export.attribution.xnnpack_blob import XNode, XnnGraphInfo
from edge_export.attribution.xnnpack_costs import align_events
from edge_export.attribution.xnnpack_graph import DelegateGraph
from edge_export.attribution.xnnpack_ops import PREP_FAMILIES, UNNAMED_UNARY_FAMILY, operator_base_name, operator_family

# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class Attribution:
    event_index: int
    name: str  # runtime operator event name, e.g. "Convolution (NHWC, F32) IGEMM #2"
    duration: float  # in the unit of the input events
    module_path: str | None  # dotted nn.Module path ("" = the root module); None = unattributed
    debug_handles: tuple[int, ...] = ()  # handle(s) of the XNode(s) this operator ran for
    xnode_indices: tuple[int, ...] = ()
    xnode_kind: str | None = None
    # matched | expansion | layout-from-producer | layout-from-consumer | inferred-handle |
    # quantize-for-consumer | dequantize-of-producer | model-input | model-output |
    # prep-for-next | portable-op | unattributed
    how: str = "unattributed"
    reason: str | None = None  # why unattributed (or a caveat for inferred attributions)
    fused_xnodes: tuple[int, ...] = ()  # XNodes with no operator of their own folded into this one
    fused_debug_handles: tuple[int, ...] = ()  # FX nodes folded away before serialisation

    @property
    def attributed(self) -> bool:
        return self.module_path is not None


@dataclass
class AlignmentReport:
    """What the alignment did with the XNodes (for diagnostics and tests)."""

    matched: dict[int, list[int]]  # xnode index -> event indices
    skipped: dict[int, str]  # xnode index -> why it has no operator
    orphan_events: list[int]
    cost: float


def _attribute_matched(a: Attribution, xi: int, move: str, g: DelegateGraph, fused_into: Mapping[int, list[int]],
                       dh_map: Mapping[int, str], fused_handles: Mapping[int, Sequence[int]] | None) -> None:
    """Fill `a`, the event matched (or expanded) to XNode `xi`: its handles, module and how it got it."""
    x = g.nodes[xi]
    a.xnode_indices = (xi,)
    a.xnode_kind = x.kind
    a.how = "matched" if move == MATCH else "expansion"
    a.fused_xnodes = tuple(sorted(fused_into.get(xi, [])))
    h = g.handle_of(xi)
    handles = [h] if h is not None else []
    for f in a.fused_xnodes:
        fh = g.handle_of(f)
        if fh is not None and fh not in handles:
            handles.append(fh)
    a.debug_handles = tuple(handles)
    if fused_handles and h is not None:
        a.fused_debug_handles = tuple(fh for fh in fused_handles.get(h, ()) if fh not in handles)
    mod, why = g.module_of(xi, dh_map)
    owner = g.conversion_owner(xi, dh_map)
    if owner is not None:
        a.how, a.reason = owner[1], owner[2]
    elif operator_family(a.name) == UNNAMED_UNARY_FAMILY and mod is not None:
        a.reason = f"{x.kind} between int8 converts, run as one int8 operator XNNPACK names 'Invalid Unary Op'"
    elif mod is not None and x.debug_handle is None:
        a.how = "inferred-handle"
        a.reason = (
            f"{x.kind} was serialised without a debug handle (created by an XNNPACK "
            f"delegate pass); FX node {h} identified from the graph between its neighbours"
        )
    elif mod is None and h is None:
        src, how = g.layout_source(xi)
        if src is not None:
            mod, why2 = g.module_of(src, dh_map)
            if mod is not None:
                a.how = how
                a.debug_handles = (g.handle_of(src),)  # type: ignore[assignment]
                a.reason = (
                    f"{x.kind} inserted by the XNNPACK delegate (no FX node, e.g. an NCHW<->NHWC "
                    f"layout conversion); time charged to XNode {src} ({g.nodes[src].kind})"
                )
            else:
                why = why2
        else:
            why += "; no neighbouring XNode with a debug handle to charge it to"
    if mod is None:
        a.how = "unattributed"
        a.reason = why
    a.module_path = mod


def _attribute_orphan(a: Attribution, following: Sequence[Attribution]) -> None:
    """An operator with no XNode: input preparation goes to the operator that follows it."""
    base = operator_base_name(a.name)
    if operator_family(a.name) in PREP_FAMILIES:
        nxt = next((b for b in following if b.xnode_indices), None)
        if nxt is not None and nxt.module_path is not None:
            a.module_path = nxt.module_path
            a.debug_handles = nxt.debug_handles[:1]
            a.xnode_indices = nxt.xnode_indices
            a.xnode_kind = nxt.xnode_kind
            a.how = "prep-for-next"
            a.reason = f"{base!r} prepares the input of the next operator ({nxt.name})"
            return
    a.reason = (
        f"runtime operator {base!r} has no XNode of a compatible kind at this position of the "
        f"delegate graph (XNNPACK created it, or fused nodes into an operator of another kind)"
    )


def attribute_delegate_events(
    events: Sequence[tuple[str, float]],
    xnodes: XnnGraphInfo | Sequence[XNode],
    debug_handle_to_module: Mapping[int, str],
    *,
    inferred_handles: Mapping[int, int] | None = None,
    fused_handles: Mapping[int, Sequence[int]] | None = None,
    model_io: Mapping[int, str] | None = None,
    report: list[AlignmentReport] | None = None,
) -> list[Attribution]:
    """Attribute the runtime operator events of ONE XNNPACK delegate call to modules.

    ``events``: (name, duration) in the order ETDump recorded them for that delegate call (the
    runtime's operator order). ``xnodes``: the delegate's XNodes (``XnnGraphInfo`` or a list).
    ``debug_handle_to_module``: from ``debug_handle_module_map``.
    ``inferred_handles``: optional {xnode index: debug handle} for XNodes serialised without a
    handle whose FX node could be identified from the graph (``infer_missing_handles``).
    ``fused_handles``: optional {debug handle: [handles of FX nodes folded into it]}
    (``fused_handle_map``). ``model_io``: optional {debug handle: MODEL_INPUT | MODEL_OUTPUT} of the
    converts of the model's own input and output (``model_io_handles``). Converts are given their owner
    (the module docstring's rule) only when ``xnodes`` is an ``XnnGraphInfo``: its values tell int8 from
    float. If ``report`` is a list, an ``AlignmentReport`` is appended to it.
    """
    nodes = list(xnodes.xnodes) if isinstance(xnodes, XnnGraphInfo) else list(xnodes)
    for k, x in enumerate(nodes):
        if x.index != k:
            raise ValueError("xnodes must be the full ordered XNode list of one delegate")
    names = [str(e[0]) for e in events]
    steps, cost = align_events(names, nodes)
    matched: dict[int, list[int]] = defaultdict(list)
    for ei, (_, xi) in enumerate(steps):
        if xi is not None:
            matched[xi].append(ei)
    values = xnodes.values if isinstance(xnodes, XnnGraphInfo) else None
    g = DelegateGraph(nodes, inferred_handles or {}, matched, values, model_io)
    fused_into, skipped = g.absorbers()
    out = [Attribution(event_index=ei, name=str(name), duration=dur, module_path=None)
           for ei, (name, dur) in enumerate(events)]
    for a, (move, xi) in zip(out, steps):
        if xi is not None:
            _attribute_matched(a, xi, move, g, fused_into, debug_handle_to_module, fused_handles)
    for ei, (_, xi) in enumerate(steps):
        if xi is None:
            _attribute_orphan(out[ei], out[ei + 1:])
    if report is not None:
        report.append(AlignmentReport(matched=dict(matched), skipped=skipped,
                                      orphan_events=[i for i, (_, xi) in enumerate(steps) if xi is None], cost=cost))
    return out


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


def attributed_fraction(attributions: Sequence[Attribution]) -> float:
    """Share of the summed operator time that got a module (1.0 when there is no time)."""
    total = sum(a.duration for a in attributions)
    if total <= 0:
        return 1.0 if all(a.attributed for a in attributions) else 0.0
    return sum(a.duration for a in attributions if a.attributed) / total


def attributed_event_fraction(attributions: Sequence[Attribution]) -> float:
    if not attributions:
        return 1.0
    return sum(a.attributed for a in attributions) / len(attributions)


def time_by_module(attributions: Iterable[Attribution], unattributed_key: str = "<unattributed>") -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for a in attributions:
        out[a.module_path if a.module_path is not None else unattributed_key] += a.duration
    return dict(out)
