"""The TFLite graph of a `.tflite`, read straight from its flatbuffer: ops in order, their tensors, and the
order they run in once a delegate has taken some of them."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


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


def read_tflite_graph(path: str | Path, data: bytes | None = None) -> TfliteGraph:
    """Ops (in order) and their output tensor names of the first signature's subgraph (of `data` when given,
    `path` then only names it)."""
    data = Path(path).read_bytes() if data is None else data
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
