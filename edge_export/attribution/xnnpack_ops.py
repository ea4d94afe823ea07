"""XNNPACK's runtime operator names, as both ExecuTorch's and LiteRT's XNNPACK delegates report them.

An event is named after the XNNPACK operator that ran ("Convolution (NHWC, F32) IGEMM #2",
"Fully Connected (NC, QD8, F32, QC8W) GEMM"); its family is the text before " (", normalised
("convolution", "fullyconnected"). Each runtime's cost table says which families a graph node can run as.
"""

from __future__ import annotations

import re
from typing import Iterable


def normalise(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def operator_base_name(event_name: str) -> str:
    """ "Convolution (NHWC, F32) IGEMM #2" -> "Convolution (NHWC, F32) IGEMM"."""
    return re.sub(r"\s*#\d+$", "", event_name.strip())


def operator_family(event_name: str) -> str:
    """Normalised operator family: "Convolution (NHWC, F32) IGEMM #2" -> "convolution"."""
    return normalise(operator_base_name(event_name).split(" (", 1)[0])


def family_matches(family: str, families: Iterable[str]) -> bool:
    """`family` is one of `families` or a longer name of one ("fullyconnected" fits "fullyconnected..."),"""
    return any(family == f or family.startswith(f) for f in families)


# XNNPACK's name for a unary operator whose unary type it does not record (xnn_operator_type_to_string_v2 prints
# "Invalid Unary Op" for xnn_unary_invalid): measured with ExecuTorch 1.5.1, XNNPACK runs an int8 model's
# dequantize -> GELU -> quantize as ONE such operator (a quantized unary op; the two converts run no operator).
UNNAMED_UNARY_FAMILY = "invalidunaryop"

# Operators XNNPACK adds to prepare the next operator's input (LHS packing, the F32 -> QD8 converts of
# dynamic quantisation), with no graph node of their own: their time goes to the operator that follows.
PREP_FAMILIES = ("packlh", "convert")
