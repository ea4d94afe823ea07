"""xnnpack-int8 simulated in PyTorch: the target's own PT2E quantizer, calibrated once, converted with its
quantize/dequantize pairs left in the graph; a module "stays float" by routing around the pairs that
quantize its weights and its own activations.

Which pairs a float module removes, following what `set_filter_function` does in the real export (the
module's nodes are not annotated): a pair goes when every user of its dequantize is inside the module and
what it quantizes is a weight/input (get_attr, placeholder) or an activation produced inside the module.
An activation produced outside and consumed inside stays quantized: its producer is annotated in the
real export too. `edge-export int8-sensitivity` cross-checks the chosen recipe on the real artifact.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from edge_export.quantization import inside_any, quantize_pt2e


def _kind(node: torch.fx.Node) -> str | None:
    """"q" / "dq" for PT2E's quantize/dequantize ops (matched by name: their namespace is registered by
    torchao on import), else None."""
    if node.op != "call_function":
        return None
    parts = str(node.target).split(".")
    name = parts[-2] if len(parts) >= 2 else parts[-1]
    if name in ("quantize_per_tensor", "quantize_per_channel"):
        return "q"
    if name in ("dequantize_per_tensor", "dequantize_per_channel"):
        return "dq"
    return None


def leaf_path(node: torch.fx.Node) -> str | None:
    """The dotted path of the innermost module that called `node` (None: not called from a module)."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return None
    path = list(stack.values())[-1][0]
    return path.removeprefix("L['self'].")


class Pt2eSimulation:
    """The converted (fake-quantized) graph of one PT2E quantizer configuration, calibrated once."""

    def __init__(self, module: nn.Module, sample: torch.Tensor, quantizer, calibration: list[torch.Tensor],
                 progress: Callable[[str], None] = lambda m: None):
        self.graph = quantize_pt2e(module, sample, quantizer, calibration, progress, fold_quantize=False)
        # (q node name, dq node name) of every pair, and where each side sits
        self._pairs: list[tuple[str, str, bool, str | None, list[str | None]]] = []
        for dq in self.graph.graph.nodes:
            if _kind(dq) != "dq":
                continue
            q = dq.args[0]
            if not isinstance(q, torch.fx.Node) or _kind(q) != "q":
                continue
            src = q.args[0]
            is_param = not (isinstance(src, torch.fx.Node) and src.op == "call_function")
            produced_in = None if is_param else leaf_path(src)
            self._pairs.append((q.name, dq.name, is_param, produced_in, [leaf_path(u) for u in dq.users]))

    def module_paths(self) -> list[str]:
        """Leaf module paths of the ops that consume quantized values, in graph order."""
        seen = {}
        for *_, users in self._pairs:
            for u in users:
                if u:
                    seen.setdefault(u, None)
        return list(seen)

    def pairs_removed(self, float_modules: list[str]) -> list[str]:
        """Names of the dequantize nodes that keeping `float_modules` float routes around."""
        out = []
        for _, dq, is_param, produced_in, users in self._pairs:
            if users and all(inside_any(u, float_modules) for u in users) and (
                    is_param or inside_any(produced_in, float_modules)):
                out.append(dq)
        return out

    def with_float(self, float_modules: list[str]) -> torch.fx.GraphModule:
        """A copy of the fake-quantized graph with `float_modules` computing in float."""
        removed = set(self.pairs_removed(float_modules))
        if not removed:
            return self.graph
        gm = copy.deepcopy(self.graph)
        for node in list(gm.graph.nodes):
            if node.name in removed:
                node.replace_all_uses_with(node.args[0].args[0])  # dq(q(x)) -> x
        gm.graph.eliminate_dead_code()
        gm.recompile()
        return gm


class XnnpackInt8Candidates:
    """xnnpack-int8's quantizer configuration (targets.xnnpack.xnnpack_int8_quantizer) as a Pt2eSimulation."""

    def __init__(self, module: nn.Module, loaded, sample: torch.Tensor, ctx, threads: int = 1):
        from edge_export.targets.xnnpack import xnnpack_int8_quantizer

        quantizer, *_ = xnnpack_int8_quantizer(loaded, module, ctx.options.observer, ctx.options.quantize_attention, [])
        calibration = ctx.calibration(loaded).batches
        ctx.progress(f"calibrating on {len(calibration)} images")
        torch.set_num_threads(threads)
        self.sim = Pt2eSimulation(module, sample, quantizer, calibration, ctx.progress)

    def module_paths(self) -> list[str]:
        return self.sim.module_paths()

    def ops_affected(self, float_modules: list[str]) -> int:
        return len(self.sim.pairs_removed(float_modules))

    def logits(self, float_modules: list[str], batch: torch.Tensor, progress=lambda done: None):
        gm = self.sim.with_float(float_modules)
        rows = []
        with torch.no_grad():
            for i in range(len(batch)):
                rows.append(gm(batch[i : i + 1]))
                progress(i + 1)
        return torch.cat(rows).numpy()
