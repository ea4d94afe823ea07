"""The op table of a .tflite: every op, its output dtype, and whether LiteRT's XNNPACK delegate takes it.

Which ops XNNPACK takes is read from the runtime itself, not from a support list: the model is loaded
in an Interpreter with the default XNNPACK delegate; each DELEGATE node it adds lists the partition's
boundary tensors, and walking producers back from its outputs to its inputs yields exactly the original
ops that partition replaced. Everything else runs on TFLite's builtin kernels.

    edge-export inspect model.tflite [--json]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_export.artifacts import Delegation, QuantParams, TensorSpec
from edge_export.runtimes.litert.runner import load_interpreter, short_tensor_name

XNNPACK_BACKEND = "XNNPACK (LiteRT default delegate)"
_NO_COMPUTE = {"QUANTIZE", "DEQUANTIZE", "RESHAPE"}  # not counted as float compute in an int8 model


@dataclass
class TfliteOp:
    index: int
    op: str
    output: str  # short module path of the first output tensor
    dtype: str  # dtype of the first output
    xnnpack: bool


@dataclass
class TfliteInspection:
    path: str
    file_bytes: int
    inputs: list[dict]
    outputs: list[dict]
    ops: list[TfliteOp] = field(default_factory=list)
    partitions: int = 0

    def op_counts(self) -> list[tuple[str, int, int]]:
        """(op, count, taken by XNNPACK), most frequent first."""
        total = Counter(o.op for o in self.ops)
        taken = Counter(o.op for o in self.ops if o.xnnpack)
        return [(op, n, taken.get(op, 0)) for op, n in total.most_common()]

    def delegation(self) -> Delegation:
        taken = Counter(o.op for o in self.ops if o.xnnpack)
        left = Counter(o.op for o in self.ops if not o.xnnpack)
        return Delegation(
            backend=XNNPACK_BACKEND,
            subgraphs=self.partitions,
            delegated_nodes=sum(taken.values()),
            fallback_nodes=sum(left.values()),
            fallback_ops=dict(left.most_common()),
            delegated_ops=dict(taken.most_common()),
        )

    def float_compute_ops(self) -> dict[str, int]:
        """Ops computing in float32 (for a quantized model: what the recipe kept float)."""
        c = Counter(o.op for o in self.ops if o.dtype == "float32" and o.op not in _NO_COMPUTE)
        return dict(c.most_common())

    def table(self) -> str:
        rows = [f"{self.path}: {self.file_bytes / 1e6:.2f} MB, {len(self.ops)} ops, "
                f"{sum(o.xnnpack for o in self.ops)} in {self.partitions} XNNPACK partition(s)"]
        for kind, specs in (("input", self.inputs), ("output", self.outputs)):
            for s in specs:
                q = f" scale={s['quantization'][0]:.4g} zp={s['quantization'][1]}" if s["quantization"] else ""
                rows.append(f"{kind} {s['name']} {s['shape']} {s['dtype']}{q}")
        rows.append(f"{'op':24s} {'count':>5s} {'xnnpack':>7s} {'builtin':>7s}")
        for op, n, x in self.op_counts():
            rows.append(f"{op:24s} {n:5d} {x:7d} {n - x:7d}")
        return "\n".join(rows)

    def to_json(self) -> dict:
        return {**asdict(self), "op_counts": self.op_counts(), "delegation": self.delegation().model_dump()}


def _tensor_dict(d: dict) -> dict:
    scale, zp = d["quantization"]
    return {
        "name": d["name"],
        "shape": [int(v) for v in d["shape"]],
        "dtype": np.dtype(d["dtype"]).name,
        "quantization": [float(scale), int(zp)] if scale else None,
    }


def tensor_spec(d: dict, layout: str | None) -> TensorSpec:
    t = _tensor_dict(d)
    q = QuantParams(scale=t["quantization"][0], zero_point=t["quantization"][1]) if t["quantization"] else None
    return TensorSpec(name=t["name"], shape=t["shape"], dtype=t["dtype"], layout=layout, quantization=q)


def inspect_tflite(path: Path) -> TfliteInspection:
    path = Path(path)
    interp = load_interpreter(path, 1, xnnpack=True)
    details = interp._get_ops_details()
    original = [d for d in details if d["op_name"] != "DELEGATE"]
    delegates = [d for d in details if d["op_name"] == "DELEGATE"]
    producer = {int(t): d["index"] for d in original for t in d["outputs"] if t >= 0}
    taken: set[int] = set()
    for d in delegates:
        boundary = {int(t) for t in d["inputs"]}
        stack, seen = [int(t) for t in d["outputs"]], set()
        while stack:
            t = stack.pop()
            if t in seen or t in boundary or t not in producer:
                continue
            seen.add(t)
            node = producer[t]
            taken.add(node)
            stack.extend(int(x) for x in details[node]["inputs"] if x >= 0)
    ops = []
    for d in original:
        first = int(d["outputs"][0]) if len(d["outputs"]) else -1
        t = interp._get_tensor_details(first, 0) if first >= 0 else None
        ops.append(TfliteOp(
            index=int(d["index"]), op=d["op_name"],
            output=short_tensor_name(t["name"]) if t else "",
            dtype=np.dtype(t["dtype"]).name if t else "",
            xnnpack=d["index"] in taken,
        ))
    return TfliteInspection(
        path=str(path), file_bytes=path.stat().st_size,
        inputs=[_tensor_dict(d) for d in interp.get_input_details()],
        outputs=[_tensor_dict(d) for d in interp.get_output_details()],
        ops=ops, partitions=len(delegates),
    )
