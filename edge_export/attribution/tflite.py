"""Attribute LiteRT's per-op events of a ``.tflite`` to TFLite ops, hence to module paths.

* Builtin mode (``kernel_mode="builtin"``): one event per TFLite op index, so each event gets the
  module of that op's output tensor (edge_export.attribution.tflite_names): attribution ``exact``.
* XNNPACK delegate mode (what ships): events are XNNPACK runtime operators numbered by XNNPACK
  node index, with no tensor names. The delegate visits the TFLite ops in order and XNNPACK's
  subgraph rewriting fuses or elides some (pads into convolutions, max-with-constant into the
  producer's clamp, reshapes...) and renames others (1x1 convolutions run as fully-connected,
  ``x*x`` as Square). :func:`align_xnn_to_tflite` aligns the two sequences by operator family with
  the package's one aligner (edge_export.attribution.align) and the cost table below: ``aligned``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

from edge_export.attribution.align import EXPANSION, MATCH, align
from edge_export.attribution.xnnpack_ops import PREP_FAMILIES, family_matches, normalise, operator_family


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

_COST_SKIP_ELIDABLE = 0.3
_COST_SKIP_OP = 4.0
_COST_EXPANSION = 1.0
_COST_PREP = 0.5
_COST_ORPHAN = 6.0


def op_families(opcode: str) -> tuple[str, ...]:
    if opcode in _OP_FAMILIES:
        return _OP_FAMILIES[opcode]
    return (normalise(opcode),)  # e.g. "ELU" -> "elu"; custom ops rarely run in XNNPACK


def compatible(event_name: str, opcode: str) -> bool:
    return family_matches(operator_family(event_name), op_families(opcode))


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
    anchors = list(anchors) if anchors is not None else [None] * m
    anchored = {a for a in anchors if a is not None}
    fams = [operator_family(e) for e in event_names]
    compat: dict[tuple[str, str], bool] = {}

    def ok(j: int, i: int) -> bool:  # event j may have run for op i
        if anchors[j] is not None:
            return anchors[j] == i
        if i in anchored:
            return False
        key = (fams[j], opcodes[i])
        if key not in compat:
            compat[key] = family_matches(fams[j], op_families(opcodes[i]))
        return compat[key]

    def skip(i: int) -> float:
        return _COST_ORPHAN * 4 if i in anchored else _COST_SKIP_ELIDABLE if opcodes[i] in _ELIDABLE else _COST_SKIP_OP

    def orphan(j: int) -> float:
        return _COST_ORPHAN * 4 if anchors[j] is not None else _COST_PREP if fams[j] in PREP_FAMILIES else _COST_ORPHAN

    result = align(m, n, lambda j, i: 0.0 if ok(j, i) else None, skip,
                   lambda j, i: _COST_EXPANSION if anchors[j] is None and ok(j, i) else None, orphan)
    matches: list[XnnMatch] = []
    for j, (move, i) in enumerate(result.steps):
        if move == MATCH:
            matches.append(XnnMatch(j, i, "exact" if anchors[j] is not None else "matched"))
        elif move == EXPANSION:
            matches.append(XnnMatch(j, i, "expansion"))
        else:
            matches.append(XnnMatch(j, None, "prep-for-next" if fams[j] in PREP_FAMILIES else "orphan"))
    _charge_prep_to_next(matches)
    skipped = _fold_skipped({i: opcodes[i] for i in result.skipped}, matches)
    return Alignment(matches, skipped, result.cost)


def _charge_prep_to_next(matches: list[XnnMatch]) -> None:
    """Input-preparation operators go to the op of the next matched operator."""
    nxt = None
    for mt in reversed(matches):
        if mt.how == "prep-for-next":
            mt.op = nxt
            if nxt is None:
                mt.how = "orphan"
        elif mt.op is not None:
            nxt = mt.op


def _fold_skipped(skipped: dict[int, str], matches: list[XnnMatch]) -> dict[int, str]:
    """Each op with no operator of its own is folded into the operator that absorbed it: {op: why}."""
    by_op: dict[int, list[XnnMatch]] = defaultdict(list)
    for mt in matches:
        if mt.op is not None and mt.how in ("matched", "exact"):
            by_op[mt.op].append(mt)
    matched_ops = sorted(by_op)
    for i, opcode in skipped.items():
        before = [k for k in matched_ops if k < i]
        after = [k for k in matched_ops if k > i]
        prev = before[-1] if before else (after[0] if after else None)
        nxt = after[0] if after else (before[-1] if before else None)
        target = prev if _ELIDABLE.get(opcode, "prev") == "prev" else nxt
        if target is not None:
            by_op[target][0].fused.append(i)
            skipped[i] = f"{opcode} fused into the operator of op {target}"
        else:
            skipped[i] = f"{opcode} has no operator"
    return skipped
