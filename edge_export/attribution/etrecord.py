"""The ETRecord side of attribution: FX nodes of the edge program -> debug handles -> module paths.

`to_edge_transform_and_lower(..., generate_etrecord=True)` records the edge-dialect program before
partitioning; the delegate's FX nodes, and so their `meta["debug_handle"]`, come from it, and their
`nn_module_stack` names the module that computed them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from os import PathLike
from typing import Any, Iterable


def load_etrecord(etrecord: Any) -> Any:
    """An ETRecord, parsed from a path if given one."""
    if isinstance(etrecord, (str, PathLike)):
        from executorch.devtools.etrecord import parse_etrecord

        return parse_etrecord(str(etrecord))
    return etrecord


def edge_program(etrecord: Any, method: str = "forward"):
    """(ETRecord, its edge-dialect ExportedProgram for `method`)."""
    etrecord = load_etrecord(etrecord)
    ep = etrecord.edge_dialect_program
    if isinstance(ep, dict):
        ep = ep[method]
    if ep is None:
        raise ValueError("the ETRecord has no edge dialect program")
    return etrecord, ep


def innermost_module(node: Any) -> str | None:
    """Dotted path of the innermost module in an FX node's nn_module_stack ("" = the root); None without one."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return None
    path = list(stack.values())[-1][0]
    # torch.export may mark repeated calls of one module as "name@1"; L['self'] forms are old.
    path = re.sub(r"@\d+", "", str(path))
    return path


def debug_handle_module_map(etrecord: Any, method: str = "forward") -> dict[int, str]:
    """{debug handle: dotted path of the innermost module in nn_module_stack} ("" = root).

    Reads the ETRecord's edge-dialect program (``ETRecord.edge_dialect_program``, recorded by
    ``to_edge_transform_and_lower(..., generate_etrecord=True)`` before partitioning; the
    delegate's FX nodes, and so their ``meta["debug_handle"]``, come from it). ``etrecord`` is an
    ``ETRecord`` or a path to a saved one. When several FX nodes share a handle (one aten op
    decomposed into several), the first one that has a module stack wins.
    """
    _, ep = edge_program(etrecord, method)
    out: dict[int, str] = {}
    for node in ep.graph.nodes:
        if node.op != "call_function":
            continue
        dh = node.meta.get("debug_handle")
        if dh is None:
            continue
        handles = dh if isinstance(dh, (tuple, list)) else (dh,)
        mod = innermost_module(node)
        for h in handles:
            if mod is not None and int(h) not in out:
                out[int(h)] = mod
    return out


def instruction_handles(etrecord: Any, method: str) -> dict[int, list[int]]:
    dhm = getattr(etrecord, "_debug_handle_map", None) or {}
    per_method = dhm.get(method, {}) if isinstance(dhm, dict) else {}
    out: dict[int, list[int]] = {}
    for k, v in (per_method or {}).items():
        hs = v if isinstance(v, (list, tuple)) else [v]
        out[int(k)] = [int(h) for h in hs if h is not None]
    return out


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

    def nearest(node: torch.fx.Node, neighbours) -> int | None:
        """Breadth-first along `neighbours` (inputs or users): the first handle that is `present`."""
        seen = set()
        frontier = [node]
        while frontier:
            nxt = []
            for nd in frontier:
                for a in neighbours(nd):
                    if a in seen or a.op != "call_function":
                        continue
                    seen.add(a)
                    if _h(a) in present:
                        return _h(a)
                    nxt.append(a)
            frontier = nxt
        return None

    def upstream(node: torch.fx.Node) -> int | None:
        return nearest(node, lambda nd: nd.all_input_nodes)

    def downstream(node: torch.fx.Node) -> int | None:
        return nearest(node, lambda nd: nd.users)

    out: dict[int, list[int]] = defaultdict(list)
    for h in sorted(wanted):
        for node in by_handle.get(h, [])[:1]:
            tgt = upstream(node)
            if tgt is None:
                tgt = downstream(node)
            if tgt is not None:
                out[tgt].append(h)
    return dict(out)


def _op_name(node: Any) -> str:
    """The op of a call_function node without namespace and overload: 'quantize_per_tensor' for
    quantized_decomposed.quantize_per_tensor.default."""
    parts = str(getattr(node.target, "__name__", node.target)).split(".")
    return parts[1] if len(parts) == 3 else parts[-1]


def model_io_handles(etrecord: Any, method: str = "forward") -> dict[int, str]:
    """{debug handle: MODEL_INPUT | MODEL_OUTPUT} of an int8 program's quantize nodes that take a user input and
    dequantize nodes whose result is a user output: converting the model's own input and output, which belongs
    to no module (edge_export.attribution.xnnpack's conversion rule). {} for a float program."""
    from edge_export.profile.schema import MODEL_INPUT, MODEL_OUTPUT

    _, ep = edge_program(etrecord, method)
    user_inputs = set(ep.graph_signature.user_inputs)
    out: dict[int, str] = {}
    for node in ep.graph.nodes:
        dh = node.meta.get("debug_handle")
        if node.op != "call_function" or not isinstance(dh, int):
            continue
        name = _op_name(node)
        src = node.args[0] if node.args else None
        if name.startswith("quantize_per") and getattr(src, "op", None) == "placeholder" and src.name in user_inputs:
            out[dh] = MODEL_INPUT
        elif name.startswith("dequantize_per") and any(u.op == "output" for u in node.users):
            out[dh] = MODEL_OUTPUT
    return out
