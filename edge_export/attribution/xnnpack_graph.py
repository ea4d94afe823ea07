"""One XNNPACK delegate's XNodes as a graph: producers and consumers of each value, debug handles, which
XNode absorbed the ones with no runtime operator, and who owns a quantize/dequantize convert (the rules are in
``edge_export.attribution.xnnpack``'s docstring)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping

from edge_export.attribution.xnnpack_blob import XNode, XValue
from edge_export.attribution.xnnpack_costs import ELIDABLE_KINDS
from edge_export.profile.schema import MODEL_INPUT


def common_module(paths: Iterable[str]) -> str:
    """The innermost module containing every one of `paths` ("" = only the root; "" for none)."""
    split = [p.split(".") for p in paths]
    if not split:
        return ""
    common = []
    for parts in zip(*split):
        if any(p != parts[0] for p in parts):
            break
        common.append(parts[0])
    return ".".join(common)


class DelegateGraph:
    """One delegate's XNodes: producers/consumers of each value, debug handles, what matched what."""

    def __init__(self, nodes: list[XNode], inferred: Mapping[int, int], matched: Mapping[int, list[int]],
                 values: Mapping[int, XValue] | None = None, model_io: Mapping[int, str] | None = None):
        self.nodes = nodes
        self.inferred = dict(inferred)
        self.matched = matched
        self.values = dict(values or {})  # value id -> XValue (tells int8 from float), when the blob was read
        self.model_io = dict(model_io or {})  # debug handle -> MODEL_INPUT | MODEL_OUTPUT (model_io_handles)
        self._owners: dict[int, tuple[str, str, str] | None] = {}
        self.producer: dict[int, int] = {}
        self.consumers: dict[int, list[int]] = defaultdict(list)
        for x in nodes:
            for o in x.outputs:
                self.producer[o] = x.index
            for v in x.inputs:
                self.consumers[v].append(x.index)

    def handle_of(self, xi: int) -> int | None:
        h = self.nodes[xi].debug_handle
        return h if h is not None else self.inferred.get(xi)

    def neighbours(self, xi: int, up: bool) -> list[int]:
        x = self.nodes[xi]
        if up:
            return [self.producer[v] for v in x.inputs if v in self.producer]
        return [c for o in x.outputs for c in self.consumers.get(o, [])]

    def walk(self, xi: int, up: bool) -> int | None:
        """Nearest matched XNode upstream (through producers) or downstream (consumers), 16 hops at most."""
        seen, frontier = {xi}, [xi]
        for _ in range(16):
            nxt = []
            for cur in frontier:
                for nb in self.neighbours(cur, up):
                    if nb in seen:
                        continue
                    if nb in self.matched:
                        return nb
                    seen.add(nb)
                    nxt.append(nb)
            frontier = nxt
            if not frontier:
                break
        return None

    def absorbers(self) -> tuple[dict[int, list[int]], dict[int, str]]:
        """XNodes with no operator attached to the operator that absorbed them (a clamp: the producer of
        its input; a pad: the consumer of its output; otherwise the nearest matched neighbour).
        ({absorbing xnode: [absorbed]}, {absorbed xnode: why it has no operator})."""
        fused_into: dict[int, list[int]] = defaultdict(list)
        skipped: dict[int, str] = {}
        for x in self.nodes:
            if x.index in self.matched:
                continue
            why = ELIDABLE_KINDS.get(x.kind, "no runtime operator of a compatible family at this position")
            first_up = x.kind != "XNNStaticConstantPad"  # a pad is fused into its consumer
            tgt = self.walk(x.index, up=first_up)
            if tgt is None:
                tgt = self.walk(x.index, up=not first_up)
            if tgt is not None:
                fused_into[tgt].append(x.index)
                why += f" (attached to XNode {tgt} {self.nodes[tgt].kind})"
            skipped[x.index] = why
        return fused_into, skipped

    def module_of(self, xi: int, debug_handle_to_module: Mapping[int, str]) -> tuple[str | None, str]:
        owner = self.conversion_owner(xi, debug_handle_to_module)
        if owner is not None:
            return owner[0], ""
        dh = self.handle_of(xi)
        kind = self.nodes[xi].kind
        if dh is None:
            return None, f"XNode {xi} ({kind}) has no debug handle"
        if dh not in debug_handle_to_module:
            return None, f"debug handle {dh} of XNode {xi} ({kind}) is not in the module map"
        return debug_handle_to_module[dh], ""

    def conversion_owner(self, xi: int, dh_map: Mapping[int, str]) -> tuple[str, str, str] | None:
        """(module, how, reason) for a convert XNode whose FX nodes have no module of their own (see the
        module docstring): the model's input/output pseudo-module, else its consumer's module (quantize,
        requantize) or its producer's (dequantize). None for any other XNode, or when no owner is found."""
        if xi not in self._owners:
            self._owners[xi] = self._conversion_owner(xi, dh_map)
        return self._owners[xi]

    def _conversion_owner(self, xi: int, dh_map: Mapping[int, str]) -> tuple[str, str, str] | None:
        x = self.nodes[xi]
        if x.kind != "XNNConvert" or not x.inputs or not x.outputs:
            return None
        h = self.handle_of(xi)
        if h is not None and dh_map.get(h):
            return None  # its FX nodes have a module of their own
        if h in self.model_io:
            what = "input" if self.model_io[h] == MODEL_INPUT else "output"
            return self.model_io[h], f"model-{what}", f"converts the model's {what} (belongs to no module)"
        src, dst = self.values.get(x.inputs[0]), self.values.get(x.outputs[0])
        if src is None or dst is None:
            return None
        dequantize = src.quantized and not dst.quantized
        def own_module(nb: int) -> str | None:  # "" (the root) and None: keep walking
            h = self.handle_of(nb)
            return dh_map.get(h) if h is not None else None

        owner = common_module(self.nearest_labels(xi, dequantize, own_module))
        if not owner:
            return None
        if dequantize:
            return owner, "dequantize-of-producer", f"dequantizes the int8 output of {owner} (its producer)"
        return owner, "quantize-for-consumer", f"quantizes the input of {owner} (its consumer) to int8"

    def nearest_labels(self, xi: int, up: bool, label: Callable[[int], Any]) -> set:
        """The labels of the nearest XNodes upstream (producers) or downstream (consumers) of `xi` that have one
        (`label(index)` not None/empty): every label at the first distance where any is; set() for none."""
        found: set = set()
        seen, frontier = {xi}, [xi]
        while frontier and not found:
            nxt = []
            for cur in frontier:
                for nb in self.neighbours(cur, up):
                    if nb in seen:
                        continue
                    seen.add(nb)
                    lab = label(nb)
                    if lab is not None and lab != "":
                        found.add(lab)
                    else:
                        nxt.append(nb)
            frontier = nxt
        return found

    def layout_source(self, xi: int) -> tuple[int | None, str]:
        """For an XNode with no FX node: the XNode producing its input, else consuming its output."""
        for v in self.nodes[xi].inputs:
            p = self.producer.get(v)
            if p is not None and self.handle_of(p) is not None:
                return p, "layout-from-producer"
        for o in self.nodes[xi].outputs:
            for c in self.consumers.get(o, []):
                if self.handle_of(c) is not None:
                    return c, "layout-from-consumer"
        for up in (True, False):  # look further (a chain of handle-less nodes)
            nb = self.walk(xi, up)
            if nb is not None and self.handle_of(nb) is not None:
                return nb, "layout-from-producer" if up else "layout-from-consumer"
        return None, ""
