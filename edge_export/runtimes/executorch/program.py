"""Pieces every ExecuTorch program shares: tensor specs, XNNPACK lowering, delegation summary, .pte and ETRecord."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from edge_export.artifacts import Delegation, TensorSpec

# Nodes that move no data and compute nothing: not counted as fallback compute.
_NON_COMPUTE = {"getitem", "alloc", "executorch_call_delegate"}


def io_specs(sample: torch.Tensor, num_classes: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    inputs = [TensorSpec(name="input", shape=list(sample.shape), dtype="float32", layout="NCHW")]
    outputs = [TensorSpec(name="logits", shape=[sample.shape[0], num_classes], dtype="float32", layout="NC")]
    return inputs, outputs


def _op_name(target) -> str:
    name = getattr(target, "__name__", str(target))
    return name.split(".")[0] if name.startswith("aten.") is False else name


def delegation_summary(edge_program_manager, backend: str) -> Delegation:
    """Count delegated subgraphs/nodes and every compute node left outside a delegate, by op."""
    gm = edge_program_manager.exported_program().graph_module
    delegated: Counter[str] = Counter()
    fallback: Counter[str] = Counter()
    subgraphs = 0
    for node in gm.graph.nodes:
        if node.op == "get_attr" and node.name.startswith("lowered_module_"):
            subgraphs += 1
            lowered = getattr(gm, node.name)
            for inner in lowered.original_module.graph.nodes:
                if inner.op == "call_function":
                    delegated[_clean(inner.target)] += 1
        elif node.op == "call_function":
            name = _clean(node.target)
            if name.split(".")[0] not in _NON_COMPUTE and "executorch_call_delegate" not in name and name != "getitem":
                fallback[name] += 1
    return Delegation(
        backend=backend,
        subgraphs=subgraphs,
        delegated_nodes=sum(delegated.values()),
        fallback_nodes=sum(fallback.values()),
        fallback_ops=dict(fallback.most_common()),
        delegated_ops=dict(delegated.most_common()),
    )


def _clean(target) -> str:
    """'aten.convolution.default' style names for edge ops and plain names for Python callables."""
    name = str(getattr(target, "_name", None) or getattr(target, "__name__", target))
    return name.replace("aten::", "aten.")


def lower_to_xnnpack(program, generate_etrecord: bool = False):
    """An ExportedProgram lowered to one XNNPACK delegate as every XNNPACK target lowers it (EdgeProgramManager):
    first the decompositions that turn ops XNNPACK lacks into ops it has (decompositions.py)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from edge_export.runtimes.executorch.decompositions import delegable

    return to_edge_transform_and_lower(delegable(program), partitioner=[XnnpackPartitioner()],
                                       generate_etrecord=generate_etrecord)


def write_program(executorch_program_manager, path: Path) -> None:
    with open(path, "wb") as f:
        executorch_program_manager.write_to_file(f)


def save_etrecord(edge_program_manager, executorch_program_manager, path: Path) -> bool:
    """Save the ETRecord (maps runtime debug handles to FX nodes and module paths). False if unavailable."""
    etrecord = None
    for holder in (executorch_program_manager, edge_program_manager):
        getter = getattr(holder, "get_etrecord", None)
        if getter is not None:
            try:
                etrecord = getter()
            except Exception:
                etrecord = None
        if etrecord is not None:
            break
    if etrecord is None:
        return False
    etrecord.save(str(path))
    return True
