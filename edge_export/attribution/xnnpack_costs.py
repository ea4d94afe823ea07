"""The XNNPACK cost table: which runtime operators an XNode can become, and what each alignment move costs
(measured with ExecuTorch 1.5.1's XNNPACK and read from XNNPACK's subgraph rewriting; the rules are in
``edge_export.attribution.xnnpack``'s docstring)."""

from __future__ import annotations

import re
from typing import Sequence

from edge_export.attribution.align import align
from edge_export.attribution.xnnpack_blob import XNode
from edge_export.attribution.xnnpack_ops import UNNAMED_UNARY_FAMILY, family_matches, normalise, operator_family

# --------------------------------------------------------------------------------------------
# The cost table: which operators an XNode can become, and what each alignment move costs
# --------------------------------------------------------------------------------------------

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
ELIDABLE_KINDS: dict[str, str] = {
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
    return (normalise(k),)


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

# XNNPACK's unary elementwise node kinds (one xnn_unary_* operator each; XNNSoftmax and the pools are not).
_UNARY_KINDS = frozenset({
    "XNNAbs", "XNNCeiling", "XNNClamp", "XNNConvert", "XNNCos", "XNNELU", "XNNExp", "XNNFloor", "XNNGelu",
    "XNNHardswish", "XNNLeakyReLU", "XNNLog", "XNNNegate", "XNNReciprocalSquareRoot", "XNNSigmoid", "XNNSin",
    "XNNSquare", "XNNSquareRoot", "XNNTanh",
})

_COST_REWRITE = 0.5
_COST_SKIP_ELIDABLE = 1.0
_COST_SKIP_OTHER = 6.0
_COST_EXPANSION = 2.0
_COST_ORPHAN = 10.0


def match_cost(event_name: str, node: XNode) -> float | None:
    """0 if the operator is what ``node`` normally becomes, a small cost for a known rewrite,
    None if it cannot come from ``node``."""
    fam = operator_family(event_name)
    if family_matches(fam, kind_families(node.kind)):
        return 0.0
    alts = _KIND_REWRITES.get(node.kind, ())
    if node.kind == "XNNMultiply" and "square" in alts and fam == "square":
        return _COST_REWRITE if len(node.inputs) >= 2 and node.inputs[0] == node.inputs[1] else None
    if family_matches(fam, alts):
        return _COST_REWRITE
    if fam == UNNAMED_UNARY_FAMILY and node.kind in _UNARY_KINDS:
        return _COST_REWRITE
    return None


def compatible(event_name: str, node_or_kind: XNode | str) -> bool:
    if isinstance(node_or_kind, str):
        return family_matches(operator_family(event_name), kind_families(node_or_kind))
    return match_cost(event_name, node_or_kind) is not None


def _skip_cost(node: XNode) -> float:
    return _COST_SKIP_ELIDABLE if node.kind in ELIDABLE_KINDS else _COST_SKIP_OTHER


def align_events(names: Sequence[str], xnodes: Sequence[XNode]) -> tuple[list[tuple[str, int | None]], float]:
    """Runtime operators against XNodes (edge_export.attribution.align with this table): per event
    (MATCH | EXPANSION | ORPHAN, xnode index), and the cost."""

    def expansion(i: int, j: int) -> float | None:
        c = match_cost(names[i], xnodes[j])
        return None if c is None else _COST_EXPANSION + c

    result = align(len(names), len(xnodes), lambda i, j: match_cost(names[i], xnodes[j]),
                   lambda j: _skip_cost(xnodes[j]), expansion, lambda i: _COST_ORPHAN)
    return result.steps, result.cost
