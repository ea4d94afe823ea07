"""Numeric gap on ExecuTorch (XNNPACK targets): the lowered program made to return every module's output.

The .pte is one XNNPACK delegate whose intermediates cannot be read, and
`Inspector.calculate_numeric_gap` only sees delegate boundaries (one, here). The ETRecord holds the
exported program that was lowered (for int8 the PT2E-quantized one); its module outputs are made
program outputs - for a quantized output, the int8 tensor of its quantize node, i.e. what the next
layer reads - and it is lowered again exactly as export lowers it (`to_edge_transform_and_lower` +
`XnnpackPartitioner`) and run by `executorch.runtime`. Which tensor is a module's output: the FX
node's `nn_module_stack`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edge_export.artifacts import Manifest, program_path
from edge_export.attribution.etrecord import innermost_module
from edge_export.errors import EdgeExportError
from edge_export.profile.numeric_gap import (
    GRAPH_OUTPUT,
    Instrumented,
    ReferenceHooks,
    Value,
    dequantize,
    select_outputs,
    skip_notes,
)
from edge_export.versions import package_version


_QDQ_PREFIX = "quantized_decomposed."
_FUSING_PRODUCERS = {"convolution", "conv1d", "conv2d", "conv3d", "linear", "addmm"}
_FUSED_INTO_PRODUCER = {"_native_batch_norm_legit_no_training", "batch_norm", "relu", "hardtanh", "clamp"}


def _target_name(node) -> str:
    """The op name without its namespace: aten.relu.default -> relu.default."""
    name = str(node.target)
    return name.split(".", 1)[1] if name.startswith("aten.") else name


def _is_qdq(node) -> bool:
    return node.op == "call_function" and str(node.target).startswith(_QDQ_PREFIX)


def _exported_program(etrecord_path: Path, hooks: ReferenceHooks):
    """The ETRecord's exported program (what export lowered), with the buffers serialising dropped."""
    from executorch.devtools.etrecord import parse_etrecord

    try:
        ep = parse_etrecord(str(etrecord_path)).exported_program
    except Exception as e:  # noqa: BLE001 - any parse failure is a bad file
        raise EdgeExportError(f"{etrecord_path} is not a readable ETRecord ({type(e).__name__}): re-export the artifact") from None
    if ep is None:
        raise EdgeExportError(f"{etrecord_path} holds no exported program: re-export the artifact with this edge-export")
    # Serialising the ETRecord drops non-persistent buffers (the rewritten l2-normalize's `ones`); they are
    # module state computed in __init__, so the export form's own copies are the ones exported.
    buffers = dict(hooks.root.named_buffers())
    for name in ep.graph_signature.non_persistent_buffers:
        if name not in ep.constants:
            if name not in buffers:
                raise EdgeExportError(f"{etrecord_path} lacks buffer {name!r} and the PyTorch model has none: re-export")
            ep.constants[name] = buffers[name]
    return ep


def _values(nodes: list) -> list[Value]:
    """Every non-Q/DQ value of the graph with the module that computed it and who reads it."""
    position = {n: i for i, n in enumerate(nodes)}

    def consumers(n) -> list[int]:
        out = []
        for u in n.users:
            if u.op == "output":
                out.append(GRAPH_OUTPUT)
            elif _is_qdq(u):
                out += consumers(u)
            else:
                out.append(position[u])
        return out

    def shape(n) -> tuple[int, ...] | None:
        val = n.meta.get("val")
        return tuple(int(d) for d in val.shape) if isinstance(val, torch.Tensor) else None

    owner = {n: innermost_module(n) or None for n in nodes if n.op == "call_function"}
    # XNNPACK fuses a batch norm or an activation into the conv/linear that is its single producer: its
    # output never exists in the delegate, and making it a program output would break the fusion (and
    # with int8, the quantized pattern, sending the op to portable kernels). Like litert-torch's fused
    # tensors, such a value belongs to the module of the op fused into it.
    for n in reversed(nodes):
        if n in owner and len(n.users) == 1:
            (u,) = n.users
            if (u in owner and _target_name(n).split(".")[0] in _FUSING_PRODUCERS
                    and _target_name(u).split(".")[0] in _FUSED_INTO_PRODUCER):
                owner[n] = owner[u]
    return [Value(position[n], position[n], owner[n], consumers(n), shape(n))
            for n in nodes if n.op == "call_function" and not _is_qdq(n)]


def _expose(gm, nodes: list, exposed: list[tuple[str, Value]]) -> tuple[list, list, int]:
    """Make each exposed value a program output - for an int8 one, the int8 tensor of its quantize node, which
    is what the next layer reads. (nodes added, their (scale, zero point) or None, original output count)."""
    exposed_nodes, quant = [], []
    for _, v in exposed:
        n = nodes[v.key]
        q = next((u for u in n.users if str(u.target) == "quantized_decomposed.quantize_per_tensor.default"), None)
        if q is not None and isinstance(q.args[1], float) and isinstance(q.args[2], int):
            exposed_nodes.append(q)
            quant.append((q.args[1], q.args[2]))
        else:
            exposed_nodes.append(n)
            quant.append(None)
    out_node = next(n for n in nodes if n.op == "output")
    original = out_node.args[0]
    original = list(original) if isinstance(original, (tuple, list)) else [original]
    out_node.args = (tuple(original + exposed_nodes),)
    gm.graph.set_codegen(torch.fx.graph.CodeGen())
    gm.recompile()
    return exposed_nodes, quant, len(original)


def instrumented_program(artifact_dir: Path, manifest: Manifest, hooks: ReferenceHooks, threads: int,
                         sample: torch.Tensor, progress: Callable[[str], None]) -> Instrumented:
    from executorch.runtime import Runtime

    from edge_export.runtimes.executorch.program import delegation_summary, lower_to_xnnpack
    from edge_export.runtimes.executorch.runner import load_executorch_program, set_executorch_threads

    progress("reading the ETRecord")
    gm = _exported_program(Path(artifact_dir) / manifest.etrecord_file, hooks).module()
    nodes = list(gm.graph.nodes)
    sel = select_outputs(_values(nodes), hooks, channels_last=False)
    exposed_nodes, quant, n_orig = _expose(gm, nodes, sel.exposed)
    progress(f"lowering the program again with {len(exposed_nodes)} module outputs (XNNPACK, as exported)")
    try:
        edge = lower_to_xnnpack(torch.export.export(gm, (sample,), strict=False))
        delegation = delegation_summary(edge, "XnnpackBackend")
        buffer = edge.to_executorch().buffer
    except Exception as e:  # noqa: BLE001
        raise EdgeExportError(
            f"could not lower the instrumented program of {artifact_dir} ({type(e).__name__}: {str(e)[:160]})"
        ) from None
    set_executorch_threads(threads)
    # The runtime reads the program from `buffer` without copying it (freeing it corrupts the outputs'
    # metadata), so the buffer and the Program objects are kept alive with the Instrumented.
    instrumented = Runtime.get().load_program(buffer)
    method = instrumented.load_method("forward")
    shipped_program, shipped = load_executorch_program(program_path(artifact_dir, manifest))
    keys = [v.key for _, v in sel.exposed]
    diffs: list[float] = []

    def run(x_nchw: np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x_nchw, dtype=np.float32))
        outs = method.execute([x])
        logits = shipped.execute([x])[0].detach().numpy().astype(np.float32)
        diffs.append(float(np.abs(outs[0].detach().numpy().astype(np.float64) - logits).max()))
        got = {}
        for key, t, qp in zip(keys, outs[n_orig:], quant):
            a = t.detach().numpy()
            got[key] = dequantize(a, [qp[0]], [qp[1]]) if qp else a.astype(np.float32)
        return got, logits

    shipped_d = manifest.delegation
    return Instrumented(
        sel.exposed, run, channels_last=False,
        how=(f"ExecuTorch {package_version('executorch')}: the ETRecord's exported program (what export lowered) with "
             f"{len(exposed_nodes)} module outputs added as program outputs ({sum(1 for q in quant if q)} of them the "
             "int8 tensor after the module's quantize node), lowered again with XnnpackPartitioner and run by "
             f"executorch.runtime; its delegation: {delegation.subgraphs} XNNPACK subgraph(s), "
             f"{delegation.fallback_nodes} fallback node(s) (shipped: {shipped_d.subgraphs if shipped_d else '?'}, "
             f"{shipped_d.fallback_nodes if shipped_d else '?'})"),
        notes=skip_notes(sel.skipped), agreement=diffs, keep_alive=(buffer, instrumented, shipped_program),
    )
