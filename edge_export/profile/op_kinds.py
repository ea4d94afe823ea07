"""One vocabulary of op kinds across runtimes, so backends compare side by side."""

from __future__ import annotations

import re

# (kind, pattern over the lower-cased runtime op name); first match wins.
_RULES: list[tuple[str, str]] = [
    ("depthwise-conv", r"depthwise|dwconv"),
    ("conv", r"conv(?!ert)"),  # not XNNPACK's "Convert (NC)" (int8 quantize/dequantize)
    ("gemm", r"fully.?connected|gemm|matmul|batch.?matrix|\bmm\b|bmm|linear|dot"),
    ("gelu", r"gelu"),
    ("relu", r"relu|clamp|hardtanh"),
    ("softmax", r"softmax"),
    ("normalize", r"rsqrt|reciprocal.?square|l2.?norm|normaliz|sqrt|\bdiv"),
    ("batchnorm", r"batch.?norm"),
    ("pool", r"mean|pool|reduce|\bsum\b"),
    ("add", r"\badd|sum"),
    ("mul", r"\bmul|multiply"),
    ("transpose", r"transpose|permute"),
    ("reshape", r"reshape|view|squeeze|copy|expand|static.?reshape"),
    ("quantize", r"quantiz|convert"),
    ("pad", r"pad"),
]


def op_kind(name: str) -> str:
    low = name.lower().replace("_", " ")
    for kind, pattern in _RULES:
        if re.search(pattern, low):
            return kind
    return "other"
