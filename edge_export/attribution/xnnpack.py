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
  operator family (a small dynamic programme, see ``_align``), so every event gets the XNode it
  ran for, hence a debug handle.
* ``debug_handle_module_map`` maps debug handles to the innermost ``nn_module_stack`` entry of
  the FX nodes in the ETRecord's edge-dialect program (the program the delegate was cut from).

Alignment rules (measured with ExecuTorch 1.5.1's XNNPACK, and read from XNNPACK's
``xnn_subgraph_fusion`` / ``xnn_subgraph_optimize_common_subgraphs``):

* 1:1 in order is the normal case: XNNPACK creates one runtime operator per remaining subgraph
  node, in node order, and its rewrites replace a node in place. The operator name's family
  (text before " (", normalised) must fit the XNode kind (``_KIND_FAMILIES``): a 1x1 stride-1
  unpadded ``XNNConv2d`` runs as "Fully Connected (NC, F32) GEMM", ``XNNGlobalAvgPooling2d`` as
  "Mean (ND) Reduce2", ``XNNStaticReshape`` as "Static Reshape (NC)" (or a copy).
* Known rewrites (``_KIND_REWRITES``, small cost): ``mul(x, x)`` -> "Square" (only when both
  inputs are the same value; seen in the attention's normalize), min/max with a static scalar
  -> "Clamp", a spurious clamp or no-op binary -> "Copy", ``sub(0, x)`` -> "Negate".
* An XNode may produce no operator (``_ELIDABLE_KINDS``, cheap to skip): a clamp merged into
  its producer's activation, a zero constant pad fused into the following convolution,
  reshape(reshape) merged, reshapes of static shapes and copies elided. It is reported in
  ``Attribution.fused_xnodes`` of the operator that absorbed it (producer; consumer for a pad).
  Skipping any other kind is allowed but costly and shows in ``AlignmentReport.skipped``.
* An XNode may produce several operators (e.g. concatenation as copies): extra events of a
  compatible family continue the previous XNode (``how="expansion"``).
* Operators that prepare the next one's input (LHS packing, converts XNNPACK inserts) with no
  XNode of their own are charged to the next operator (``how="prep-for-next"``).
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

``attribute_program`` does all of it for every XNNPACK delegate call of a program from the
``.pte``, its ETDump and its ETRecord, and also charges the non-delegated (portable) instructions
to modules through the ETRecord's instruction -> debug handle map. ``per_op_module_times`` and
``compare_module_times`` cross-check against ``XnnpackPartitioner(per_op_mode=True)``.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Iterable, Mapping, Sequence

from edge_export.attribution.etrecord import (
    debug_handle_module_map,
    edge_program,
    innermost_module,
    instruction_handles,
    load_etrecord,
)
from edge_export.attribution.xnnpack_blob import XNode, XnnGraphInfo, read_xnnpack_delegates

# --------------------------------------------------------------------------------------------
# Operator families
# --------------------------------------------------------------------------------------------


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def operator_base_name(event_name: str) -> str:
    """ "Convolution (NHWC, F32) IGEMM #2" -> "Convolution (NHWC, F32) IGEMM"."""
    return re.sub(r"\s*#\d+$", "", event_name.strip())


def operator_family(event_name: str) -> str:
    """Normalised operator family: "Convolution (NHWC, F32) IGEMM #2" -> "convolution"."""
    base = operator_base_name(event_name)
    return _norm(base.split(" (", 1)[0])


# XNode kind -> runtime operator families it can become (normalised).
_KIND_FAMILIES: dict[str, tuple[str, ...]] = {
    "XNNConv2d": ("convolution", "fullyconnected"),
    "XNNDepthwiseConv2d": ("convolution",),
    "XNNConvTranspose2d": ("deconvolution",),
    "XNNFullyConnected": ("fullyconnected", "dynamicfullyconnected", "batchmatrixmultiply"),
    "XNNBatchMatrixMultiply": ("batchmatrixmultiply", "fullyconnected", "dynamicfullyconnected"),
    "XNNStaticTranspose": ("transpose", "copy"),
    "XNNStaticReshape": ("staticreshape", "reshape", "copy"),
    "XNNCopy": ("copy", "staticreshape"),
    "XNNAdd": ("add",),
    "XNNSubtract": ("subtract",),
    "XNNMultiply": ("multiply",),
    "XNNDiv": ("divide",),
    "XNNMinimum": ("minimum",),
    "XNNMaximum": ("maximum",),
    "XNNPReLU": ("prelu",),
    "XNNGlobalAvgPooling2d": ("mean", "globalaveragepooling"),
    "XNNAvgPooling2d": ("averagepooling",),
    "XNNMaxPooling2d": ("maxpooling",),
    "XNNArgMaxPooling2d": ("argmaxpooling",),
    "XNNStaticConstantPad": ("constantpad",),
    "XNNStaticSlice": ("slice",),
    "XNNStaticResizeBilinear2D": ("resizebilinear",),
    "XNNConcatenate2": ("concatenate", "copy"),
    "XNNConcatenate3": ("concatenate", "copy"),
    "XNNConcatenate4": ("concatenate", "copy"),
    "XNNConcatenate5": ("concatenate", "copy"),
    "XNNScaledDotProductAttention": ("scaleddotproductattention", "batchmatrixmultiply",
                                     "fullyconnected", "softmax", "multiply", "add"),
    "XNNLeakyReLU": ("leakyrelu",),
    "XNNSin": ("sine", "sin"),
    "XNNCos": ("cosine", "cos"),
}

# Kinds XNNPACK's subgraph rewriting may fuse into a neighbour or elide (cheap to skip).
_ELIDABLE_KINDS: dict[str, str] = {
    "XNNClamp": "clamp fused into the producing operator",
    "XNNStaticConstantPad": "padding fused into the following convolution/pooling",
    "XNNStaticReshape": "static reshape elided (no data movement)",
    "XNNCopy": "copy elided",
    "XNNStaticTranspose": "transpose elided or fused",
    "XNNConvert": "conversion fused",
}


def kind_families(kind: str) -> tuple[str, ...]:
    if kind in _KIND_FAMILIES:
        return _KIND_FAMILIES[kind]
    # Fallback: "XNNReciprocalSquareRoot" -> "reciprocalsquareroot", matching
    # "Reciprocal Square Root (NC)". Unary/binary kinds mostly follow this pattern.
    k = kind[3:] if kind.startswith("XNN") else kind
    k = re.sub(r"^Static", "", k)
    k = re.sub(r"\d+[dD]?$", "", k)
    return (_norm(k),)


# Operators XNNPACK's subgraph optimiser may turn a node into (xnn_subgraph_optimize_common_subgraphs
# and friends): mul(x, x) -> square; min/max with a static scalar -> clamp; spurious clamp or a
# no-op binary -> copy; sub(0, x) -> negate; reshape(reshape) -> one reshape.
_KIND_REWRITES: dict[str, tuple[str, ...]] = {
    "XNNMultiply": ("square", "copy"),
    "XNNMaximum": ("clamp",),
    "XNNMinimum": ("clamp",),
    "XNNClamp": ("copy",),
    "XNNAdd": ("copy", "subtract"),
    "XNNSubtract": ("copy", "negate", "add"),
    "XNNDiv": ("copy",),
}

# Runtime operators that prepare the input of the operator that follows them (LHS packing,
# dynamic-quantisation converts XNNPACK inserts itself): charged to the next operator.
_PREP_FAMILIES = ("packlh", "convert")

_COST_REWRITE = 0.5


def _family_matches(fam: str, families: Iterable[str]) -> bool:
    return any(fam == f or fam.startswith(f) for f in families)


def match_cost(event_name: str, node: XNode) -> float | None:
    """0 if the operator is what ``node`` normally becomes, a small cost for a known rewrite,
    None if it cannot come from ``node``."""
    fam = operator_family(event_name)
    if _family_matches(fam, kind_families(node.kind)):
        return 0.0
    alts = _KIND_REWRITES.get(node.kind, ())
    if node.kind == "XNNMultiply" and "square" in alts and fam == "square":
        return _COST_REWRITE if len(node.inputs) >= 2 and node.inputs[0] == node.inputs[1] else None
    if _family_matches(fam, alts):
        return _COST_REWRITE
    return None


def compatible(event_name: str, node_or_kind: XNode | str) -> bool:
    if isinstance(node_or_kind, str):
        return _family_matches(operator_family(event_name), kind_families(node_or_kind))
    return match_cost(event_name, node_or_kind) is not None


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


# --------------------------------------------------------------------------------------------
# Alignment
# --------------------------------------------------------------------------------------------

_COST_SKIP_ELIDABLE = 1.0
_COST_SKIP_OTHER = 6.0
_COST_EXPANSION = 2.0
_COST_ORPHAN = 10.0
_INF = math.inf


def _skip_cost(node: XNode) -> float:
    return _COST_SKIP_ELIDABLE if node.kind in _ELIDABLE_KINDS else _COST_SKIP_OTHER


def _align(names: Sequence[str], xnodes: Sequence[XNode]) -> tuple[list[tuple[str, int | None]], float]:
    """Edit-distance alignment of runtime operators against XNodes.

    State D[i][j][s]: best cost having consumed i events and j xnodes, s=1 when xnode j-1 was
    matched to at least one event. Moves: match (event i, xnode j; compatible families),
    skip xnode (fused/elided), expansion (one more event for the matched xnode j-1),
    orphan event (no xnode). Returns per event ("match"|"expansion"|"orphan", xnode index).
    """
    m, n = len(names), len(xnodes)
    if m == n and all(match_cost(names[k], xnodes[k]) == 0.0 for k in range(n)):
        return [("match", k) for k in range(n)], 0.0  # the common case: one operator per XNode
    compat = [[match_cost(names[i], xnodes[j]) for j in range(n)] for i in range(m)]
    skip = [_skip_cost(x) for x in xnodes]
    D = [[[_INF, _INF] for _ in range(n + 1)] for _ in range(m + 1)]
    B: list[list[list[tuple[str, int, int, int] | None]]] = [
        [[None, None] for _ in range(n + 1)] for _ in range(m + 1)
    ]
    D[0][0][0] = 0.0
    for i in range(m + 1):
        for j in range(n + 1):
            for s in (0, 1):
                c = D[i][j][s]
                if c == _INF:
                    continue
                # skip xnode j
                if j < n:
                    nc = c + skip[j]
                    if nc < D[i][j + 1][0]:
                        D[i][j + 1][0] = nc
                        B[i][j + 1][0] = ("skip", i, j, s)
                if i < m:
                    # match event i with xnode j
                    if j < n and compat[i][j] is not None:
                        nc = c + compat[i][j]
                        if nc < D[i + 1][j + 1][1]:
                            D[i + 1][j + 1][1] = nc
                            B[i + 1][j + 1][1] = ("match", i, j, s)
                    # another operator of the matched xnode j-1
                    if s == 1 and j > 0 and compat[i][j - 1] is not None:
                        nc = c + _COST_EXPANSION + compat[i][j - 1]
                        if nc < D[i + 1][j][1]:
                            D[i + 1][j][1] = nc
                            B[i + 1][j][1] = ("expansion", i, j, s)
                    # orphan event
                    nc = c + _COST_ORPHAN
                    if nc < D[i + 1][j][s]:
                        D[i + 1][j][s] = nc
                        B[i + 1][j][s] = ("orphan", i, j, s)
    s = 0 if D[m][n][0] <= D[m][n][1] else 1
    total = D[m][n][s]
    out: list[tuple[str, int | None]] = [("orphan", None)] * m
    i, j = m, n
    while (i, j) != (0, 0):
        step = B[i][j][s]
        assert step is not None
        move, pi, pj, ps = step
        if move == "match":
            out[pi] = ("match", pj)
        elif move == "expansion":
            out[pi] = ("expansion", pj - 1)
        elif move == "orphan":
            out[pi] = ("orphan", None)
        i, j, s = pi, pj, ps
    return out, total


def _as_graph(xnodes: XnnGraphInfo | Sequence[XNode]) -> tuple[list[XNode], XnnGraphInfo | None]:
    if isinstance(xnodes, XnnGraphInfo):
        return list(xnodes.xnodes), xnodes
    return list(xnodes), None


def _producers_consumers(xnodes: Sequence[XNode]) -> tuple[dict[int, int], dict[int, list[int]]]:
    producer: dict[int, int] = {}
    consumers: dict[int, list[int]] = defaultdict(list)
    for x in xnodes:
        for o in x.outputs:
            producer[o] = x.index
        for v in x.inputs:
            consumers[v].append(x.index)
    return producer, consumers


def attribute_delegate_events(
    events: Sequence[tuple[str, float]],
    xnodes: XnnGraphInfo | Sequence[XNode],
    debug_handle_to_module: Mapping[int, str],
    *,
    inferred_handles: Mapping[int, int] | None = None,
    fused_handles: Mapping[int, Sequence[int]] | None = None,
    report: list[AlignmentReport] | None = None,
) -> list[Attribution]:
    """Attribute the runtime operator events of ONE XNNPACK delegate call to modules.

    ``events``: (name, duration) in the order ETDump recorded them for that delegate call (the
    runtime's operator order). ``xnodes``: the delegate's XNodes (``XnnGraphInfo`` or a list).
    ``debug_handle_to_module``: from ``debug_handle_module_map``.
    ``inferred_handles``: optional {xnode index: debug handle} for XNodes serialised without a
    handle whose FX node could be identified from the graph (``infer_missing_handles``).
    ``fused_handles``: optional {debug handle: [handles of FX nodes folded into it]}
    (``fused_handle_map``). If ``report`` is a list, an ``AlignmentReport`` is appended to it.
    """
    nodes, _info = _as_graph(xnodes)
    for k, x in enumerate(nodes):
        if x.index != k:
            raise ValueError("xnodes must be the full ordered XNode list of one delegate")
    inferred = dict(inferred_handles or {})
    names = [str(e[0]) for e in events]
    steps, cost = _align(names, nodes)
    producer, consumers = _producers_consumers(nodes)

    def handle_of(xi: int) -> int | None:
        h = nodes[xi].debug_handle
        return h if h is not None else inferred.get(xi)

    matched: dict[int, list[int]] = defaultdict(list)
    for ei, (move, xi) in enumerate(steps):
        if xi is not None:
            matched[xi].append(ei)

    def _walk(xi: int, up: bool) -> int | None:
        """Nearest matched XNode upstream (through producers) or downstream (consumers)."""
        seen = {xi}
        frontier = [xi]
        for _ in range(16):
            nxt = []
            for cur in frontier:
                if up:
                    neigh = [producer[v] for v in nodes[cur].inputs if v in producer]
                else:
                    neigh = [c for o in nodes[cur].outputs for c in consumers.get(o, [])]
                for nb in neigh:
                    if nb in seen:
                        continue
                    if nb in matched:
                        return nb
                    seen.add(nb)
                    nxt.append(nb)
            frontier = nxt
            if not frontier:
                break
        return None

    # XNodes with no operator: attach to the operator that absorbed them (a clamp: the producer
    # of its input; a pad: the consumer of its output; otherwise the nearest matched neighbour).
    skipped: dict[int, str] = {}
    fused_into: dict[int, list[int]] = defaultdict(list)
    for x in nodes:
        if x.index in matched:
            continue
        why = _ELIDABLE_KINDS.get(x.kind, "no runtime operator of a compatible family at this position")
        first_up = x.kind != "XNNStaticConstantPad"  # a pad is fused into its consumer
        tgt = _walk(x.index, up=first_up)
        if tgt is None:
            tgt = _walk(x.index, up=not first_up)
        if tgt is not None:
            fused_into[tgt].append(x.index)
            why += f" (attached to XNode {tgt} {nodes[tgt].kind})"
        skipped[x.index] = why

    def module_of(xi: int) -> tuple[str | None, str]:
        dh = handle_of(xi)
        if dh is None:
            return None, f"XNode {xi} ({nodes[xi].kind}) has no debug handle"
        if dh not in debug_handle_to_module:
            return None, f"debug handle {dh} of XNode {xi} ({nodes[xi].kind}) is not in the module map"
        return debug_handle_to_module[dh], ""

    def layout_source(xi: int) -> tuple[int | None, str]:
        """For an XNode with no FX node: the XNode producing its input, else consuming its output."""
        for v in nodes[xi].inputs:
            p = producer.get(v)
            if p is not None and handle_of(p) is not None:
                return p, "layout-from-producer"
        for o in nodes[xi].outputs:
            for c in consumers.get(o, []):
                if handle_of(c) is not None:
                    return c, "layout-from-consumer"
        # look further (a chain of handle-less nodes)
        for up in (True, False):
            nb = _walk(xi, up)
            if nb is not None and handle_of(nb) is not None:
                return nb, "layout-from-producer" if up else "layout-from-consumer"
        return None, ""

    out: list[Attribution] = []
    for ei, ((name, dur), (move, xi)) in enumerate(zip(events, steps)):
        a = Attribution(event_index=ei, name=str(name), duration=dur, module_path=None)
        out.append(a)
        if xi is None:
            continue  # orphans are resolved below
        x = nodes[xi]
        a.xnode_indices = (xi,)
        a.xnode_kind = x.kind
        a.how = "matched" if move == "match" else "expansion"
        a.fused_xnodes = tuple(sorted(fused_into.get(xi, [])))
        h = handle_of(xi)
        handles = [h] if h is not None else []
        for f in a.fused_xnodes:
            fh = handle_of(f)
            if fh is not None and fh not in handles:
                handles.append(fh)
        a.debug_handles = tuple(handles)
        if fused_handles and h is not None:
            a.fused_debug_handles = tuple(fh for fh in fused_handles.get(h, ()) if fh not in handles)
        mod, why = module_of(xi)
        if mod is not None and x.debug_handle is None:
            a.how = "inferred-handle"
            a.reason = (
                f"{x.kind} was serialised without a debug handle (created by an XNNPACK "
                f"delegate pass); FX node {h} identified from the graph between its neighbours"
            )
        elif mod is None and h is None:
            src, how = layout_source(xi)
            if src is not None:
                mod, why2 = module_of(src)
                if mod is not None:
                    a.how = how
                    a.debug_handles = (handle_of(src),)  # type: ignore[assignment]
                    a.reason = (
                        f"{x.kind} inserted by the XNNPACK delegate (no FX node, e.g. an NCHW<->NHWC "
                        f"layout conversion); time charged to XNode {src} ({nodes[src].kind})"
                    )
                else:
                    why = why2
            else:
                why += "; no neighbouring XNode with a debug handle to charge it to"
        if mod is None:
            a.how = "unattributed"
            a.reason = why
        a.module_path = mod

    # Orphan operators: input-preparation operators go to the operator that follows them.
    for ei, (move, xi) in enumerate(steps):
        if xi is not None:
            continue
        a = out[ei]
        base = operator_base_name(a.name)
        if operator_family(a.name) in _PREP_FAMILIES:
            nxt = next((b for b in out[ei + 1 :] if b.xnode_indices), None)
            if nxt is not None and nxt.module_path is not None:
                a.module_path = nxt.module_path
                a.debug_handles = nxt.debug_handles[:1]
                a.xnode_indices = nxt.xnode_indices
                a.xnode_kind = nxt.xnode_kind
                a.how = "prep-for-next"
                a.reason = f"{base!r} prepares the input of the next operator ({nxt.name})"
                continue
        a.reason = (
            f"runtime operator {base!r} has no XNode of a compatible kind at this position of the "
            f"delegate graph (XNNPACK created it, or fused nodes into an operator of another kind)"
        )

    if report is not None:
        report.append(
            AlignmentReport(
                matched={k: v for k, v in matched.items()},
                skipped=skipped,
                orphan_events=[i for i, (mv, xi) in enumerate(steps) if xi is None],
                cost=cost,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# ETRecord side: debug handle -> module path
# --------------------------------------------------------------------------------------------


def fused_handle_map(
    etrecord: Any,
    delegate_handles: Iterable[int],
    xnode_handles: Iterable[int],
    method: str = "forward",
) -> dict[int, list[int]]:
    """{handle of a serialised FX node: [handles of FX nodes of the same delegate folded into it]}.

    ``delegate_handles``: every handle the delegate covers (``ETRecord._debug_handle_map`` for its
    instruction); ``xnode_handles``: those that reached an XNode. A folded node (batch norm, the
    ReLU that became an output clamp, getitem) is charged to the nearest upstream FX node that
    has an XNode (through its first tensor input), else to the nearest downstream one.
    """
    import torch.fx

    _, ep = edge_program(etrecord, method)
    present = set(xnode_handles)
    wanted = set(delegate_handles) - present
    by_handle: dict[int, list[torch.fx.Node]] = defaultdict(list)
    for node in ep.graph.nodes:
        dh = node.meta.get("debug_handle")
        if node.op == "call_function" and isinstance(dh, int):
            by_handle[dh].append(node)

    def _h(node: torch.fx.Node) -> int | None:
        dh = node.meta.get("debug_handle")
        return dh if isinstance(dh, int) else None

    def upstream(node: torch.fx.Node) -> int | None:
        seen = set()
        frontier = [node]
        while frontier:
            nxt = []
            for nd in frontier:
                for a in nd.all_input_nodes:
                    if a in seen or a.op != "call_function":
                        continue
                    seen.add(a)
                    if _h(a) in present:
                        return _h(a)
                    nxt.append(a)
            frontier = nxt
        return None

    def downstream(node: torch.fx.Node) -> int | None:
        seen = set()
        frontier = [node]
        while frontier:
            nxt = []
            for nd in frontier:
                for u in nd.users:
                    if u in seen or u.op != "call_function":
                        continue
                    seen.add(u)
                    if _h(u) in present:
                        return _h(u)
                    nxt.append(u)
            frontier = nxt
        return None

    out: dict[int, list[int]] = defaultdict(list)
    for h in sorted(wanted):
        for node in by_handle.get(h, [])[:1]:
            tgt = upstream(node)
            if tgt is None:
                tgt = downstream(node)
            if tgt is not None:
                out[tgt].append(h)
    return dict(out)


_ACTIVATION_TARGETS = ("relu", "hardtanh", "clamp", "getitem")


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
    import torch.fx

    _, ep = edge_program(etrecord, method)
    nodes = graph.xnodes
    producer, consumers = _producers_consumers(nodes)
    present = {x.debug_handle for x in nodes if x.debug_handle is not None}
    missing = set(delegate_handles) - present
    by_handle: dict[int, list[torch.fx.Node]] = defaultdict(list)
    for node in ep.graph.nodes:
        dh = node.meta.get("debug_handle")
        if node.op == "call_function" and isinstance(dh, int):
            by_handle[dh].append(node)

    def near_handled(xi: int, up: bool) -> set[int]:
        found: set[int] = set()
        seen = {xi}
        frontier = [xi]
        while frontier and not found:
            nxt = []
            for cur in frontier:
                neigh = (
                    [producer[v] for v in nodes[cur].inputs if v in producer]
                    if up
                    else [c for o in nodes[cur].outputs for c in consumers.get(o, [])]
                )
                for nb in neigh:
                    if nb in seen:
                        continue
                    seen.add(nb)
                    if nodes[nb].debug_handle is not None:
                        found.add(nodes[nb].debug_handle)  # type: ignore[arg-type]
                    else:
                        nxt.append(nb)
            frontier = nxt
        return found

    def closure(start: Iterable[torch.fx.Node], up: bool) -> set[torch.fx.Node]:
        seen: set[torch.fx.Node] = set()
        stack = list(start)
        while stack:
            nd = stack.pop()
            for nb in (nd.all_input_nodes if up else nd.users):
                if nb not in seen:
                    seen.add(nb)
                    stack.append(nb)
        return seen

    out: dict[int, int] = {}
    for x in nodes:
        if x.debug_handle is not None or x.kind in ("XNNStaticTranspose", "XNNStaticReshape", "XNNCopy"):
            continue
        ps, cs = near_handled(x.index, True), near_handled(x.index, False)
        p_nodes = [n for h in ps for n in by_handle.get(h, [])]
        c_nodes = [n for h in cs for n in by_handle.get(h, [])]
        if p_nodes or c_nodes:
            region: set[torch.fx.Node] | None = None
            if p_nodes:
                region = closure(p_nodes, up=False)
            if c_nodes:
                anc = closure(c_nodes, up=True)
                region = anc if region is None else region & anc
            pool: Iterable[torch.fx.Node] = region or ()
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


def rollup(times: Mapping[str, float], depth: int) -> dict[str, float]:
    """Sum module times at a prefix depth: depth 2 folds "a.b.c" and "a.b.d" into "a.b"."""
    out: dict[str, float] = defaultdict(float)
    for path, t in times.items():
        key = ".".join(path.split(".")[:depth]) if path and not path.startswith("<") else path
        out[key] += t
    return dict(out)


# --------------------------------------------------------------------------------------------
# ETDump side and the whole-program driver
# --------------------------------------------------------------------------------------------


@dataclass
class DelegateRun:
    """Operator events of one delegate call in one run."""

    run_index: int  # index among the ETDump's executions (the load block is not counted)
    chain_index: int
    instruction_id: int
    events: list[tuple[str, float]]  # (name, duration in ETDump ticks; ns on Linux)
    delegate_call_duration: float | None


@dataclass
class EtdumpProfile:
    delegate_runs: list[DelegateRun]
    operator_calls: list[tuple[int, int, int, float]]  # (run, chain, instruction, duration)
    method_times: dict[int, float]  # run -> Method::execute


def read_etdump_profile(etdump_path: str | PathLike[str]) -> EtdumpProfile:
    """Group an ETDump's profiling events by execution, delegate call and instruction.

    Uses ``executorch.devtools.etdump.serialize.deserialize_from_etdump_flatcc``. Events logged
    from inside a delegate have no ``name`` but carry the operator name in
    ``delegate_debug_id_str`` and the chain/instruction of the DelegateCall they ran under; the
    DELEGATE_CALL event itself closes the group. OPERATOR_CALL events are the non-delegated
    (portable) instructions. Run blocks without any Method::execute or operator event (the
    "Default" load block) are not counted as runs.
    """
    from pathlib import Path

    from executorch.devtools.etdump.serialize import deserialize_from_etdump_flatcc

    et = deserialize_from_etdump_flatcc(Path(etdump_path).read_bytes())
    prof = EtdumpProfile([], [], {})
    run = -1
    for rd in et.run_data or []:
        pes = [ev.profile_event for ev in (rd.events or []) if ev.profile_event is not None]
        if not any(pe.name in ("Method::execute", "DELEGATE_CALL", "OPERATOR_CALL") for pe in pes):
            continue
        run += 1
        pending: dict[tuple[int, int], list[tuple[str, float]]] = defaultdict(list)
        for pe in pes:
            key = (pe.chain_index, pe.instruction_id)
            dur = float(pe.end_time - pe.start_time)
            if pe.name is None and pe.delegate_debug_id_str is not None:
                pending[key].append((pe.delegate_debug_id_str, dur))
            elif pe.name == "DELEGATE_CALL":
                prof.delegate_runs.append(DelegateRun(run, key[0], key[1], pending.pop(key, []), dur))
            elif pe.name == "OPERATOR_CALL":
                prof.operator_calls.append((run, key[0], key[1], dur))
            elif pe.name == "Method::execute":
                prof.method_times[run] = dur
        for key, evs in pending.items():  # delegate events without a closing DELEGATE_CALL
            prof.delegate_runs.append(DelegateRun(run, key[0], key[1], evs, None))
    return prof


def read_etdump_delegate_runs(etdump_path: str | PathLike[str]) -> list[DelegateRun]:
    return read_etdump_profile(etdump_path).delegate_runs


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
    instr_handles = instruction_handles(etrecord, method)

    graphs = [g for g in read_xnnpack_delegates(pte_path) if g.plan_name == method]
    by_instr: dict[tuple[int, int], XnnGraphInfo] = {}
    for g in graphs:
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
        rs = grouped[key]
        if g is None:
            result.warnings.append(f"delegate events at chain {key[0]} instruction {key[1]} belong to no XNNPACK delegate")
            continue
        names = [n for n, _ in rs[0].events]
        usable = [r for r in rs if [n for n, _ in r.events] == names]
        if len(usable) != len(rs):
            result.warnings.append(
                f"instruction {key}: {len(rs) - len(usable)} run(s) had a different operator list and were ignored"
            )
        med = [statistics.median(r.events[k][1] for r in usable) for k in range(len(names))]
        fused = None
        inferred: dict[int, int] = {}
        handles = instr_handles.get(key[1])
        if handles:
            inferred = infer_missing_handles(etrecord, g, handles, method)
            xh = [x.debug_handle for x in g.xnodes if x.debug_handle is not None] + list(inferred.values())
            fused = fused_handle_map(etrecord, handles, xh, method)
        rep: list[AlignmentReport] = []
        attrs = attribute_delegate_events(
            list(zip(names, med)), g, dh_map, inferred_handles=inferred, fused_handles=fused, report=rep
        )
        for r in usable:
            tot = result.runs.setdefault(r.run_index, RunTotals())
            tot.delegate_ops += sum(d for _, d in r.events)
            tot.delegate_ops_attributed += sum(d for (_, d), a in zip(r.events, attrs) if a.attributed)
            tot.delegate_calls += r.delegate_call_duration or 0.0
        calls = [r.delegate_call_duration for r in usable if r.delegate_call_duration is not None]
        result.delegates.append(
            DelegateAttribution(
                graph=g,
                chain_index=key[0],
                instruction_id=key[1],
                attributions=attrs,
                runs=len(usable),
                delegate_call_time=statistics.median(calls) if calls else None,
                report=rep[0],
            )
        )

    # Portable (non-delegated) instructions.
    op_calls: dict[tuple[int, int], list[float]] = defaultdict(list)
    for run, ci, ii, dur in prof.operator_calls:
        if run >= skip_runs:
            op_calls[(ci, ii)].append(dur)
    for k, (ci, ii) in enumerate(sorted(op_calls)):
        hs = instr_handles.get(ii, [])
        mods = [dh_map[h] for h in hs if h in dh_map]
        a = Attribution(
            event_index=k,
            name=f"OPERATOR_CALL instruction {ii}",
            duration=statistics.median(op_calls[(ci, ii)]),
            module_path=mods[0] if mods else None,
            debug_handles=tuple(hs),
            how="portable-op" if mods else "unattributed",
            reason=None if mods else f"instruction {ii} has no debug handle with a module in the ETRecord",
        )
        result.portable.append(a)
    portable_attr = {(ci, ii) for (ci, ii), a in zip(sorted(op_calls), result.portable) if a.attributed}
    for run, ci, ii, dur in prof.operator_calls:
        if run >= skip_runs:
            tot = result.runs.setdefault(run, RunTotals())
            tot.portable += dur
            if (ci, ii) in portable_attr:
                tot.portable_attributed += dur
    return result


# --------------------------------------------------------------------------------------------
# Cross-check against XnnpackPartitioner(per_op_mode=True)
# --------------------------------------------------------------------------------------------


def per_op_module_times(
    pte_path: str | PathLike[str],
    etdump_path: str | PathLike[str],
    etrecord: Any,
    *,
    method: str = "forward",
    skip_runs: int = 0,
) -> dict[str, float]:
    """Module times of a program lowered with ``XnnpackPartitioner(per_op_mode=True)``, as the
    ExecuTorch Inspector attributes them (independent of the XNode alignment above).

    Each per-op delegate call is one FX op (sometimes a few); Inspector gives its DELEGATE_CALL
    event a ``module_hierarchy`` from the instruction's debug handles. The XNNPACK operator
    events inside the call (the op plus the layout transposes per-op mode adds around it) are
    summed (median over executions after ``skip_runs``) and charged to the innermost module of
    the call's first FX node. ``pte_path`` is unused but kept for symmetry with
    ``attribute_program``.
    """
    import logging

    from executorch.devtools import Inspector

    etrecord = load_etrecord(etrecord)
    prev = logging.root.manager.disable
    logging.disable(logging.WARNING)  # Inspector floods "Unsupported kwarg encountered"
    try:
        insp = Inspector(etdump_path=str(etdump_path), etrecord=etrecord)
    finally:
        logging.disable(prev)
    op_time: dict[int, float] = defaultdict(float)
    call_module: dict[int, str] = {}
    for block in insp.event_blocks:
        if block.name != "Execute":
            continue
        for ev in block.events:
            iid = ev._instruction_id
            if iid is None:
                continue
            if ev.name == "DELEGATE_CALL":
                for _node, stack in ev.module_hierarchy.items():
                    if stack:
                        path = list(stack.values())[-1][0]
                        call_module.setdefault(iid, re.sub(r"@\d+", "", str(path)))
                        break
            elif ev.is_delegated_op and ev.perf_data is not None:
                raw = list(ev.perf_data.raw)[skip_runs:] or list(ev.perf_data.raw)
                op_time[iid] += statistics.median(raw)
    out: dict[str, float] = defaultdict(float)
    for iid, t in op_time.items():
        out[call_module.get(iid, "<unattributed>")] += t
    return dict(out)


def fold_map(attributions: Iterable[Attribution], debug_handle_to_module: Mapping[int, str]) -> dict[str, str]:
    """{module whose FX nodes were folded away: module of the operator that absorbed them}, e.g.
    {"stem.1": "stem.0"} for a batch norm folded into its convolution. Per-op lowering keeps
    such nodes as separate ops; apply this map to its times before comparing."""
    out: dict[str, str] = {}
    for a in attributions:
        if a.module_path is None:
            continue
        for h in a.fused_debug_handles:
            m = debug_handle_to_module.get(h)
            if m is not None and m != a.module_path:
                out.setdefault(m, a.module_path)
    return out


@dataclass
class ModuleTimeComparison:
    shares_single: dict[str, float]
    shares_per_op: dict[str, float]
    missing_in_single: set[str]  # modules with >= min_share of per-op time that got none here
    missing_in_per_op: set[str]
    rank_correlation: float  # Spearman over modules present in both
    max_share_diff: float

    def format(self, top: int = 20) -> str:
        keys = sorted(set(self.shares_single) | set(self.shares_per_op),
                      key=lambda k: -max(self.shares_single.get(k, 0.0), self.shares_per_op.get(k, 0.0)))
        lines = [f"{'module':60s} {'single %':>9s} {'per-op %':>9s}"]
        for k in keys[:top]:
            lines.append(f"{(k or '<root>'):60s} {100 * self.shares_single.get(k, 0.0):9.2f} "
                         f"{100 * self.shares_per_op.get(k, 0.0):9.2f}")
        lines.append(f"spearman={self.rank_correlation:.3f} max |share diff|={100 * self.max_share_diff:.2f} pp")
        return "\n".join(lines)


def _spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    def ranks(v: Sequence[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2.0
            i = j + 1
        return r

    if len(xs) < 2:
        return 1.0
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    vy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (vx * vy) if vx and vy else 1.0


def compare_module_times(
    single: Mapping[str, float],
    per_op: Mapping[str, float],
    *,
    depth: int | None = None,
    fold: Mapping[str, str] | None = None,
    min_share: float = 0.01,
) -> ModuleTimeComparison:
    """Compare per-module time shares of the single-delegate attribution with per-op mode.

    Absolute times differ (per-op mode adds a layout transpose pair around most ops and a
    delegate call per op), so shares of each side's total are compared. ``fold`` maps modules
    folded away in the single delegate onto their absorber (``fold_map``); ``depth`` rolls
    paths up to a prefix depth first. Modules below ``min_share`` on one side are not reported
    as missing on the other.
    """
    def prep(t: Mapping[str, float]) -> dict[str, float]:
        d: dict[str, float] = defaultdict(float)
        for k, v in t.items():
            if k.startswith("<"):
                continue
            d[(fold or {}).get(k, k)] += v
        d = rollup(d, depth) if depth is not None else dict(d)
        tot = sum(d.values()) or 1.0
        return {k: v / tot for k, v in d.items()}

    a, b = prep(single), prep(per_op)
    both = sorted(set(a) & set(b))
    return ModuleTimeComparison(
        shares_single=a,
        shares_per_op=b,
        missing_in_single={k for k, v in b.items() if v >= min_share and a.get(k, 0.0) == 0.0},
        missing_in_per_op={k for k, v in a.items() if v >= min_share and b.get(k, 0.0) == 0.0},
        rank_correlation=_spearman([a[k] for k in both], [b[k] for k in both]),
        max_share_diff=max((abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b)), default=0.0),
    )


def format_attributions(attributions: Sequence[Attribution], unit_scale: float = 1e-3, unit: str = "us") -> str:
    lines = []
    for a in attributions:
        mod = a.module_path if a.module_path is not None else "-"
        mod = mod or "<root>"
        extra = f"  [{a.how}]" if a.how not in ("matched",) else ""
        if a.reason and not a.attributed:
            extra += f"  reason: {a.reason}"
        lines.append(
            f"{a.event_index:4d} {a.name:45s} {a.duration * unit_scale:10.1f}{unit} "
            f"x={','.join(map(str, a.xnode_indices)) or '-':5s} {mod}{extra}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edge_export.attribution.xnnpack MODEL.pte RUN.etdump MODEL.etrecord``"""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("pte")
    ap.add_argument("etdump")
    ap.add_argument("etrecord")
    ap.add_argument("--method", default="forward")
    ap.add_argument("--skip-runs", type=int, default=1, help="warm-up executions to ignore")
    ap.add_argument("--depth", type=int, default=None, help="roll module paths up to this depth")
    ap.add_argument("--events", action="store_true", help="list every operator event")
    args = ap.parse_args(argv)
    pa = attribute_program(args.pte, args.etdump, args.etrecord, method=args.method, skip_runs=args.skip_runs)
    if args.events:
        for d in pa.delegates:
            print(f"# delegate {d.graph.delegate_index} (instruction {d.instruction_id}), {d.runs} runs")
            print(format_attributions(d.attributions))
    times = pa.time_by_module(include_portable=True)
    if args.depth is not None:
        times = rollup(times, args.depth)
    total = sum(times.values()) or 1.0
    for mod, t in sorted(times.items(), key=lambda kv: -kv[1]):
        print(f"{t / 1e3:10.1f} us {100 * t / total:6.2f} %  {mod or '<root>'}")
    cov = pa.coverage()
    print(f"XNNPACK operator time attributed: {100 * pa.attributed_fraction():.2f} %")
    if "attributed_share_of_method" in cov:
        print(f"share of Method::execute attributed: {100 * cov['attributed_share_of_method']:.2f} %")
    for w in pa.warnings:
        print("warning:", w)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
