"""Attribute LiteRT per-op events of a litert-torch ``.tflite`` to PyTorch module paths.

Where the module information is:

* litert-torch names each TFLite tensor after the MLIR location of the op that produced it, built
  from the FX node's ``nn_module_stack`` (``litert_torch/backend/debuginfo/_build.py``): one
  segment per *called* module, ``<module>.<class qualname>_<last component of its path>``, joined
  by ``/`` and ended by ``;``. Fused ops join several locations with ``;`` and the exporter
  appends a counter to keep names unique::

      edge_export.models.swiftformer.export_form.OriginalExportForm/torch.nn.modules.container.Sequential_0/
      edge_export.models.swiftformer.original.SwiftFormerEncoder_0/.../torch.nn.modules.linear.Linear_to_query;2

  Containers that are never called (the ``network`` ModuleList) leave no segment, and only the
  last path component survives, so :class:`ModulePathResolver` rebuilds the dotted path by
  walking ``named_modules()`` of the export-form module: each segment is matched against the
  descendants of the module resolved so far by ``<class>_<last component>`` (shortest path first).
* Builtin mode (``kernel_mode="builtin"``): one event per TFLite op index, so each event gets the
  module of that op's output tensor: attribution ``exact``.
* XNNPACK delegate mode (what ships): events are XNNPACK runtime operators numbered by XNNPACK
  node index, with no tensor names. The delegate visits the TFLite ops in order and XNNPACK's
  subgraph rewriting fuses or elides some (pads into convolutions, max-with-constant into the
  producer's clamp, reshapes...) and renames others (1x1 convolutions run as fully-connected,
  ``x*x`` as Square). :func:`align_xnn_to_tflite` aligns the two sequences by operator family
  with a small dynamic programme: attribution ``aligned``.
"""

from __future__ import annotations

import math
import re
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from edge_export.profile.op_kinds import op_kind

# --------------------------------------------------------------------------------------------
# The TFLite graph: op list + output tensor names, straight from the flatbuffer.


@dataclass(frozen=True)
class TfliteOp:
    index: int  # TFLite op index in its subgraph (what builtin-mode events carry)
    opcode: str  # builtin op name ("CONV_2D") or "CUSTOM:<code>"
    outputs: tuple[str, ...]  # output tensor names
    output_shapes: tuple[tuple[int, ...], ...] = ()
    input_ids: tuple[int, ...] = ()  # tensor indices (-1 = optional input absent)
    output_ids: tuple[int, ...] = ()


@dataclass
class TfliteGraph:
    path: str
    subgraph: int  # the subgraph of the first signature (the one LiteRtProfiledModel runs)
    signature_key: str
    ops: list[TfliteOp]


def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as S

    return {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def read_tflite_graph(path: str | Path) -> TfliteGraph:
    """Ops (in order) and their output tensor names of the first signature's subgraph."""
    data = Path(path).read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(f"{path} is not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        return _read_graph(path, data)
    except (IndexError, struct.error, UnicodeDecodeError, AttributeError, TypeError) as e:
        raise ValueError(f"{path} is not a readable TFLite flatbuffer (truncated or corrupted: {e})") from None


def _read_graph(path, data: bytes) -> TfliteGraph:
    from ai_edge_litert import schema_py_generated as S

    model = S.Model.GetRootAs(data, 0)
    names = _builtin_names()
    sub, key = 0, ""
    if model.SignatureDefsLength() > 0:
        sig = model.SignatureDefs(0)
        sub = sig.SubgraphIndex()
        key = (sig.SignatureKey() or b"").decode("utf-8", "replace")
    if sub >= model.SubgraphsLength():
        raise ValueError(f"{path}: signature subgraph {sub} does not exist")
    sg = model.Subgraphs(sub)
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = names.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            name = "CUSTOM:" + (oc.CustomCode() or b"").decode("utf-8", "replace")
        codes.append(name)
    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        outs, shapes = [], []
        for j in range(op.OutputsLength()):
            t = op.Outputs(j)
            if t < 0:
                continue
            tensor = sg.Tensors(t)
            outs.append((tensor.Name() or b"").decode("utf-8", "replace"))
            shapes.append(tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ())
        ins = tuple(int(t) for t in op.InputsAsNumpy()) if op.InputsLength() else ()
        out_ids = tuple(int(t) for t in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        ops.append(TfliteOp(i, codes[op.OpcodeIndex()], tuple(outs), tuple(shapes), ins, out_ids))
    return TfliteGraph(str(path), sub, key, ops)


# --------------------------------------------------------------------------------------------
# Tensor names -> module hierarchies -> dotted module paths.


def tensor_locations(name: str) -> list[list[str]]:
    """The module hierarchies in one tensor name (several when ops were fused), as segment lists.

    Tokens that are not hierarchies (the uniquifying counters, signature names such as
    ``serving_default_output_0_output``) are dropped.
    """
    out = []
    for token in name.split(";"):
        token = token.strip()
        if not token or token.isdigit() or "." not in token:
            continue
        segs = [s for s in token.split("/") if s]
        if segs and segs not in out:
            out.append(segs)
    return out


def class_fullname(cls: type) -> str:
    """The class name litert-torch writes for a module (``_class_fullname`` in its debuginfo)."""
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class Resolved:
    path: str | None  # dotted module path; "" is the root module itself; None = nothing resolved
    complete: bool  # every segment was matched
    note: str | None = None


class ModulePathResolver:
    """Rebuild dotted ``named_modules()`` paths from litert-torch's class-qualified segments."""

    def __init__(self, root):
        self.root_class = class_fullname(type(root))
        self.modules: dict[str, object] = dict(root.named_modules())
        self._by_segment: dict[str, list[str]] = defaultdict(list)
        self._by_last: dict[str, list[str]] = defaultdict(list)
        for path, mod in self.modules.items():
            if not path:
                continue
            last = path.rsplit(".", 1)[-1]
            self._by_segment[f"{class_fullname(type(mod))}_{last}"].append(path)
            self._by_last[last].append(path)
        self._order = {p: k for k, p in enumerate(self.modules)}
        self._cache: dict[tuple[str, ...], Resolved] = {}

    @staticmethod
    def _under(path: str, parent: str) -> bool:
        return parent == "" or path.startswith(parent + ".")

    def _candidates(self, seg: str, cur: str) -> list[str]:
        found = [p for p in self._by_segment.get(seg, ()) if self._under(p, cur)]
        if not found:  # class recorded differently (e.g. a string type): match the path component
            m = re.search(r"_([A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)$", seg)
            if m:
                tail = m.group(1)
                for k in range(len(tail.split("_"))):  # attr names contain "_": try each split
                    last = "_".join(tail.split("_")[k:])
                    found = [p for p in self._by_last.get(last, ()) if self._under(p, cur)
                             and seg.endswith("_" + last)]
                    if found:
                        break
        depth = lambda p: p.count(".") - (cur.count(".") + 1 if cur else 0)  # noqa: E731
        return sorted(found, key=lambda p: (depth(p), self._order[p]))

    def resolve(self, segs: Sequence[str]) -> Resolved:
        key = tuple(segs)
        if key not in self._cache:
            self._cache[key] = self._resolve(key)
        return self._cache[key]

    def _resolve(self, segs: tuple[str, ...]) -> Resolved:
        # Start below the last segment that is the export-form root itself (wrappers such as
        # litert-torch's ChannelLastIOWrapper sit above it).
        start = None
        for i, s in enumerate(segs):
            if s == self.root_class or s.startswith(self.root_class + "_"):
                start = i + 1
        if start is None:
            start = 1  # root of another class (a wrapper): resolve what follows from our root
        cur, note = "", None
        for seg in segs[start:]:
            cands = self._candidates(seg, cur)
            if not cands:
                where = cur or "the root module"
                return Resolved(cur, False, f"no submodule matching {seg!r} under {where}")
            if len(cands) > 1 and cands[0].count(".") == cands[1].count("."):
                note = f"{seg!r} is ambiguous under {cur or 'the root'} ({cands[0]}, {cands[1]}...): took the first"
            cur = cands[0]
        return Resolved(cur, True, note)


# Leaf torch.nn modules: the op kinds they compute themselves (anything else fused into their
# location - a folded batch norm's bias, the layout transpose before a conv - is secondary).
_PRIMARY_KIND_EQUIV = {"conv": {"conv", "depthwise-conv", "gemm"}, "depthwise-conv": {"conv", "depthwise-conv"},
                       "gemm": {"gemm", "conv"}}


def _is_torch_primitive(module) -> bool:
    mod = type(module).__module__
    return mod.startswith("torch.nn.modules.") and not mod.endswith(".container")


def _loc_score(module, op_k: str) -> float:
    """How plausibly an op of kind ``op_k`` is computed by ``module`` itself."""
    mk = op_kind(type(module).__name__)
    if _is_torch_primitive(module):
        if mk == op_k or op_k in _PRIMARY_KIND_EQUIV.get(mk, ()):
            return 2.0
        return 0.5
    return 1.0


@dataclass(frozen=True)
class OpModule:
    module_path: str | None
    reason: str | None = None  # why unattributed, or a caveat


def keras_scope_path(name: str, resolver: ModulePathResolver) -> str | None:
    """Module path from a TF/Keras scope name (the TF-native route: transformers' TF port names its
    layers after the PyTorch attributes, list items as ``network_._0``), e.g.
    ``tf_swift_former_for_image_classification/swiftformer/encoder/network_._0/blocks_._2/attn/to_key/Tensordot``
    -> ``swiftformer.encoder.network.0.blocks.2.attn.to_key``: the longest prefix that is a module."""
    best = None
    for token in name.split(";"):
        scopes = [p for p in token.strip().split("/") if p]
        if len(scopes) < 2 or "." in scopes[0] or ":" in token:
            continue  # not a scope (litert-torch class paths have dots; signature names have ":")
        if len(scopes) == 2 and best is None:
            best = ""  # model scope / op name: the root model's own call
        parts = [re.sub(r"_\._(\d+)$", r".\1", p) for p in scopes[1:]]
        dotted = ".".join(parts).split(".")
        for k in range(len(dotted), 0, -1):
            cand = ".".join(dotted[:k])
            if cand in resolver.modules:
                if not best or cand.count(".") > best.count("."):
                    best = cand
                break
    return best


def op_module(op: TfliteOp, resolver: ModulePathResolver) -> OpModule:
    """The module that computes ``op``, from its output tensors' locations."""
    locs = [loc for name in op.outputs for loc in tensor_locations(name)]
    if not any(resolver.resolve(loc).complete and resolver.resolve(loc).path for loc in locs):
        keras = next((p for p in (keras_scope_path(n, resolver) for n in op.outputs) if p is not None), None)
        if keras:
            return OpModule(keras, "from the TF/Keras scope of its output tensor")
        if keras == "":
            return OpModule(None, "computed in the root model's own call (TF/Keras scope of the model only)")
    if not locs:
        return OpModule(None, f"output tensor {op.outputs[0] if op.outputs else '?'!r} carries no module location")
    k = op_kind(op.opcode)
    best: tuple[float, Resolved] | None = None
    for loc in locs:
        r = resolver.resolve(loc)
        if r.path is None:
            continue
        mod = resolver.modules.get(r.path)
        score = _loc_score(mod, k) if r.path else 0.1
        if not r.complete:
            score -= 0.25
        if best is None or score > best[0]:
            best = (score, r)
    if best is None:
        return OpModule(None, "no location resolved to a module")
    r = best[1]
    if r.path == "" and not r.complete:
        return OpModule(None, f"its tensor names do not follow the model's module tree ({r.note})")
    if r.path == "":
        return OpModule(None, f"computed in the root module's own forward ({resolver.root_class}), not in a submodule")
    return OpModule(r.path, r.note)


def op_modules(graph: TfliteGraph, root) -> list[OpModule]:
    resolver = ModulePathResolver(root)
    return [op_module(op, resolver) for op in graph.ops]


# --------------------------------------------------------------------------------------------
# XNNPACK runtime operators <-> TFLite ops.


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def xnn_family(event_name: str) -> str:
    """ "Convolution (NHWC, F32) IGEMM" -> "convolution"; "Fully Connected (NC, QD8, F32, QC8W) GEMM" -> "fullyconnected"."""
    return _norm(event_name.split(" (", 1)[0])


# TFLite builtin -> XNNPACK operator families it can run as (normalised names).
_OP_FAMILIES: dict[str, tuple[str, ...]] = {
    "CONV_2D": ("convolution", "fullyconnected"),
    "DEPTHWISE_CONV_2D": ("convolution", "fullyconnected"),
    "TRANSPOSE_CONV": ("deconvolution",),
    # the delegate adds static reshapes around a FULLY_CONNECTED whose input/output rank is not 2
    "FULLY_CONNECTED": ("fullyconnected", "dynamicfullyconnected", "batchmatrixmultiply", "staticreshape"),
    "BATCH_MATMUL": ("batchmatrixmultiply", "fullyconnected", "dynamicfullyconnected", "staticreshape"),
    "ADD": ("add",),
    "SUB": ("subtract", "negate"),
    "MUL": ("multiply", "square"),
    "DIV": ("divide",),
    "SQUARED_DIFFERENCE": ("squareddifference",),
    "MAXIMUM": ("maximum", "clamp"),
    "MINIMUM": ("minimum", "clamp"),
    "RELU": ("clamp",),
    "RELU6": ("clamp",),
    "RELU_N1_TO_1": ("clamp",),
    "RELU_0_TO_1": ("clamp",),
    "LEAKY_RELU": ("leakyrelu",),
    "PRELU": ("prelu",),
    "ELU": ("elu",),
    "GELU": ("gelu",),
    "LOGISTIC": ("sigmoid",),
    "TANH": ("tanh",),
    "HARD_SWISH": ("hardswish",),
    "RSQRT": ("reciprocalsquareroot",),
    "SQRT": ("squareroot",),
    "SQUARE": ("square",),
    "ABS": ("abs",),
    "NEG": ("negate",),
    "EXP": ("exp",),
    "LOG": ("log",),
    "FLOOR": ("floor",),
    "CEIL": ("ceiling",),
    "ROUND": ("bankersrounding", "round"),
    "RESHAPE": ("staticreshape", "reshape", "copy"),
    "SQUEEZE": ("staticreshape", "copy"),
    "EXPAND_DIMS": ("staticreshape", "expanddims", "copy"),
    "TRANSPOSE": ("transpose", "copy"),
    "PAD": ("constantpad", "copy"),
    "PADV2": ("constantpad", "copy"),
    "MEAN": ("mean", "globalaveragepooling", "reduce"),
    "SUM": ("sum", "reduce"),
    "REDUCE_MAX": ("max", "reduce"),
    "REDUCE_MIN": ("min", "reduce"),
    "AVERAGE_POOL_2D": ("averagepooling",),
    "MAX_POOL_2D": ("maxpooling", "argmaxpooling"),
    "SOFTMAX": ("softmax",),
    "CONCATENATION": ("concatenate", "copy"),
    "SPLIT": ("split", "copy", "slice"),
    "SLICE": ("slice", "copy"),
    "STRIDED_SLICE": ("slice", "copy"),
    "QUANTIZE": ("convert",),
    "DEQUANTIZE": ("convert",),
    "RESIZE_BILINEAR": ("resizebilinear",),
    "DEPTH_TO_SPACE": ("depthtospace",),
    "SPACE_TO_DEPTH": ("spacetodepth",),
}

# TFLite ops the delegate/XNNPACK may fold into a neighbour's operator (cheap to skip), and into
# which neighbour their time goes.
_ELIDABLE: dict[str, str] = {
    "PAD": "next",  # fused into the following convolution/pooling
    "PADV2": "next",
    "RESHAPE": "prev",  # static reshape elided
    "SQUEEZE": "prev",
    "EXPAND_DIMS": "prev",
    "MAXIMUM": "prev",  # max with a constant fused into the producer's output clamp
    "MINIMUM": "prev",
    "RELU": "prev",
    "RELU6": "prev",
    "RELU_N1_TO_1": "prev",
    "RELU_0_TO_1": "prev",
    "TRANSPOSE": "prev",
    "DEQUANTIZE": "next",  # fp16 / int8 weights dequantised at init
    "QUANTIZE": "next",
}

# XNNPACK operators with no TFLite op of their own that prepare the next operator's input
# (dynamic-range quantisation inserts Convert F32->QD8 before each quantised GEMM/conv).
_PREP_FAMILIES = ("convert", "packlh")

_COST_SKIP_ELIDABLE = 0.3
_COST_SKIP_OP = 4.0
_COST_EXPANSION = 1.0
_COST_PREP = 0.5
_COST_ORPHAN = 6.0


def op_families(opcode: str) -> tuple[str, ...]:
    if opcode in _OP_FAMILIES:
        return _OP_FAMILIES[opcode]
    return (_norm(opcode),)  # e.g. "ELU" -> "elu"; custom ops rarely run in XNNPACK


def compatible(event_name: str, opcode: str) -> bool:
    fam = xnn_family(event_name)
    return any(fam == f or fam.startswith(f) for f in op_families(opcode))


def execution_order(ops: Sequence[TfliteOp], on_builtin: set[int]) -> list[int]:
    """TFLite op indices in the order they run once a delegate takes every op not in ``on_builtin``.

    Emulates TFLite's ``PartitionGraphIntoIndependentNodeSubsets`` (tflite/graph_info.cc): each
    subset takes, in op order and repeatedly, every op whose inputs are computed and whose kind
    (delegated or not) is that of the subset's first ready op; subsets run in the order they are
    built, a delegated subset as one delegate node. So a delegated op that does not depend on a
    builtin op runs *before* it (e.g. a second projection next to an undelegated L2_NORMALIZATION).
    """
    if not on_builtin:
        return [op.index for op in ops]
    produced = {t for op in ops for t in op.output_ids}
    ready = set()  # tensors computed so far (graph inputs and constants are never "produced")
    done: set[int] = set()
    order: list[int] = []
    while len(done) < len(ops):
        kind = None
        added = True
        while added:
            added = False
            for op in ops:
                if op.index in done:
                    continue
                if any(t >= 0 and t in produced and t not in ready for t in op.input_ids):
                    continue
                op_kind_ = op.index in on_builtin
                if kind is None:
                    kind = op_kind_
                if op_kind_ != kind:
                    continue
                done.add(op.index)
                order.append(op.index)
                ready.update(op.output_ids)
                added = True
        if kind is None:  # a cycle or a dangling input: keep the rest in op order
            order += [op.index for op in ops if op.index not in done]
            break
    return order


@dataclass
class XnnMatch:
    """What one XNNPACK operator (position ``event`` in the sequence) ran for."""

    event: int
    op: int | None  # position in the TFLite op sequence given to the alignment
    how: str  # matched | exact (anchored builtin event) | expansion | prep-for-next | orphan
    fused: list[int] = field(default_factory=list)  # positions of skipped ops folded into this one


@dataclass
class Alignment:
    matches: list[XnnMatch]
    skipped_ops: dict[int, str]  # op position -> why it has no operator of its own
    cost: float

    @property
    def orphans(self) -> list[int]:
        return [m.event for m in self.matches if m.op is None]


def align_xnn_to_tflite(
    event_names: Sequence[str], opcodes: Sequence[str], anchors: Sequence[int | None] | None = None
) -> Alignment:
    """Monotone alignment of runtime operators (execution order) to TFLite ops (op order).

    Moves, with costs: an operator runs for the next op (0 if the op's families allow it); an
    op has no operator (cheap for the elidable kinds, costly otherwise); an extra operator
    continues the op just matched (a multi-operator lowering); a Convert with no op of its own
    prepares the next operator; an operator matches nothing (costly: unattributed).
    ``anchors[j]``, when not None, is the op position event ``j`` ran for exactly (a builtin-kernel
    event carries its TFLite op index): it must match that op, and no other event may.
    """
    n, m = len(opcodes), len(event_names)
    inf = math.inf
    anchors = list(anchors) if anchors is not None else [None] * m
    anchored = {a for a in anchors if a is not None}
    fams = [xnn_family(e) for e in event_names]
    compat: dict[tuple[str, str], bool] = {}
    ok = [[False] * m for _ in range(n)]
    for i in range(n):
        for j in range(m):
            if anchors[j] is not None:
                ok[i][j] = anchors[j] == i
            elif i not in anchored:
                key = (fams[j], opcodes[i])
                if key not in compat:
                    compat[key] = any(fams[j] == f or fams[j].startswith(f) for f in op_families(opcodes[i]))
                ok[i][j] = compat[key]
    skip = [_COST_ORPHAN * 4 if i in anchored else _COST_SKIP_ELIDABLE if opcodes[i] in _ELIDABLE else _COST_SKIP_OP
            for i in range(n)]
    orphan = [_COST_ORPHAN * 4 if anchors[j] is not None else _COST_PREP if fams[j] in _PREP_FAMILIES else _COST_ORPHAN
              for j in range(m)]
    # State (i, j, o): ops[:i] and events[:j] consumed; o = 1 when the last move matched an
    # event to ops[i-1] (so the next event may continue it as an expansion).
    cost = [[[inf, inf] for _ in range(m + 1)] for _ in range(n + 1)]
    back: list[list[list[tuple[str, int] | None]]] = [[[None, None] for _ in range(m + 1)] for _ in range(n + 1)]
    cost[0][0][0] = 0.0

    def relax(i: int, j: int, o: int, c: float, move: str, from_o: int) -> None:
        if c < cost[i][j][o]:
            cost[i][j][o] = c
            back[i][j][o] = (move, from_o)

    for i in range(n + 1):
        for j in range(m + 1):
            for o in (0, 1):
                c = cost[i][j][o]
                if c == inf:
                    continue
                if i < n and j < m and ok[i][j]:
                    relax(i + 1, j + 1, 1, c, "match", o)
                if i < n:
                    relax(i + 1, j, 0, c + skip[i], "skip", o)
                if j < m:
                    if o and ok[i - 1][j] and anchors[j] is None:
                        relax(i, j + 1, 1, c + _COST_EXPANSION, "expand", o)
                    relax(i, j + 1, o, c + orphan[j], "orphan", o)
    o = 0 if cost[n][m][0] <= cost[n][m][1] else 1
    total = cost[n][m][o]
    moves: list[tuple[str, int, int]] = []
    i, j = n, m
    while (i, j) != (0, 0):
        mv = back[i][j][o]
        assert mv is not None
        kind, o = mv
        if kind == "match":
            i, j = i - 1, j - 1
        elif kind == "skip":
            i -= 1
        else:
            j -= 1
        moves.append((kind, i, j))
    moves.reverse()
    matches: list[XnnMatch] = []
    skipped: dict[int, str] = {}
    last_op = None
    for kind, i, j in moves:
        if kind == "match":
            matches.append(XnnMatch(j, i, "exact" if anchors[j] is not None else "matched"))
            last_op = i
        elif kind == "expand":
            matches.append(XnnMatch(j, last_op, "expansion"))
        elif kind == "orphan":
            matches.append(XnnMatch(j, None, "prep-for-next" if fams[j] in _PREP_FAMILIES else "orphan"))
        else:
            skipped[i] = opcodes[i]
    matches.sort(key=lambda x: x.event)
    # charge prep operators to the op of the next matched operator
    nxt = None
    for mt in reversed(matches):
        if mt.how == "prep-for-next":
            mt.op = nxt
            if nxt is None:
                mt.how = "orphan"
        elif mt.op is not None:
            nxt = mt.op
    # fold skipped ops into the operator that absorbed them
    by_op: dict[int, list[XnnMatch]] = defaultdict(list)
    for mt in matches:
        if mt.op is not None and mt.how in ("matched", "exact"):
            by_op[mt.op].append(mt)
    matched_ops = sorted(by_op)
    for i, opcode in skipped.items():
        direction = _ELIDABLE.get(opcode, "prev")
        before = [k for k in matched_ops if k < i]
        after = [k for k in matched_ops if k > i]
        target = (before[-1] if before else (after[0] if after else None)) if direction == "prev" else (
            after[0] if after else (before[-1] if before else None))
        if target is not None:
            by_op[target][0].fused.append(i)
            skipped[i] = f"{opcode} fused into the operator of op {target}"
        else:
            skipped[i] = f"{opcode} has no operator"
    return Alignment(matches, skipped, total)
