"""Module paths of a litert-torch ``.tflite``'s ops, from its tensor names.

Where the module information is:

* litert-torch names each TFLite tensor after the MLIR location of the op that produced it, built
  from the FX node's ``nn_module_stack`` (``litert_torch/backend/debuginfo/_build.py``): one
  segment per *called* module, ``<module>.<class qualname>_<last component of its path>``, joined
  by ``/`` and ended by ``;``. Fused ops join several locations with ``;`` and the exporter
  appends a counter to keep names unique::

      edge_export.models.swiftformer.export_form.OriginalExportForm/torch.nn.modules.container.Sequential_0/
      edge_export.models.swiftformer.original.SwiftFormerEncoder_0/.../torch.nn.modules.linear.Linear_to_query;2

  Containers that are never called (the ``network`` ModuleList) leave no segment, and only the
  last path component survives, so :class:`ModulePathResolver` rebuilds the dotted path by
  walking ``named_modules()`` of the export-form module: each segment is matched against the
  descendants of the module resolved so far by ``<class>_<last component>`` (shortest path first).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from edge_export.attribution.tflite_graph import TfliteGraph, TfliteOp
from edge_export.profile.op_kinds import op_kind


def tensor_locations(name: str) -> list[list[str]]:
    """The module hierarchies in one tensor name (several when ops were fused), as segment lists.

    Tokens that are not hierarchies (the uniquifying counters, signature names such as
    ``serving_default_output_0_output``) are dropped.
    """
    out = []
    for token in name.split(";"):
        token = token.strip()
        if not token or token.isdigit() or "." not in token:
            continue
        segs = [s for s in token.split("/") if s]
        if segs and segs not in out:
            out.append(segs)
    return out


def class_fullname(cls: type) -> str:
    """The class name litert-torch writes for a module (``_class_fullname`` in its debuginfo)."""
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class Resolved:
    path: str | None  # dotted module path; "" is the root module itself; None = nothing resolved
    complete: bool  # every segment was matched
    note: str | None = None


class ModulePathResolver:
    """Rebuild dotted ``named_modules()`` paths from litert-torch's class-qualified segments."""

    def __init__(self, root):
        self.root_class = class_fullname(type(root))
        self.modules: dict[str, object] = dict(root.named_modules())
        self._by_segment: dict[str, list[str]] = defaultdict(list)
        self._by_last: dict[str, list[str]] = defaultdict(list)
        for path, mod in self.modules.items():
            if not path:
                continue
            last = path.rsplit(".", 1)[-1]
            self._by_segment[f"{class_fullname(type(mod))}_{last}"].append(path)
            self._by_last[last].append(path)
        self._order = {p: k for k, p in enumerate(self.modules)}
        self._cache: dict[tuple[str, ...], Resolved] = {}

    @staticmethod
    def _under(path: str, parent: str) -> bool:
        return parent == "" or path.startswith(parent + ".")

    def _candidates(self, seg: str, cur: str) -> list[str]:
        found = [p for p in self._by_segment.get(seg, ()) if self._under(p, cur)]
        if not found:  # class recorded differently (e.g. a string type): match the path component
            m = re.search(r"_([A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)$", seg)
            if m:
                tail = m.group(1)
                for k in range(len(tail.split("_"))):  # attr names contain "_": try each split
                    last = "_".join(tail.split("_")[k:])
                    found = [p for p in self._by_last.get(last, ()) if self._under(p, cur)
                             and seg.endswith("_" + last)]
                    if found:
                        break
        depth = lambda p: p.count(".") - (cur.count(".") + 1 if cur else 0)  # noqa: E731
        return sorted(found, key=lambda p: (depth(p), self._order[p]))

    def resolve(self, segs: Sequence[str]) -> Resolved:
        key = tuple(segs)
        if key not in self._cache:
            self._cache[key] = self._resolve(key)
        return self._cache[key]

    def _resolve(self, segs: tuple[str, ...]) -> Resolved:
        # Start below the last segment that is the export-form root itself (wrappers such as
        # litert-torch's ChannelLastIOWrapper sit above it).
        start = None
        for i, s in enumerate(segs):
            if s == self.root_class or s.startswith(self.root_class + "_"):
                start = i + 1
        if start is None:
            start = 1  # root of another class (a wrapper): resolve what follows from our root
        cur, note = "", None
        for seg in segs[start:]:
            cands = self._candidates(seg, cur)
            if not cands:
                where = cur or "the root module"
                return Resolved(cur, False, f"no submodule matching {seg!r} under {where}")
            if len(cands) > 1 and cands[0].count(".") == cands[1].count("."):
                note = f"{seg!r} is ambiguous under {cur or 'the root'} ({cands[0]}, {cands[1]}...): took the first"
            cur = cands[0]
        return Resolved(cur, True, note)


# Leaf torch.nn modules: the op kinds they compute themselves (anything else fused into their
# location - a folded batch norm's bias, the layout transpose before a conv - is secondary).
_PRIMARY_KIND_EQUIV = {"conv": {"conv", "depthwise-conv", "gemm"}, "depthwise-conv": {"conv", "depthwise-conv"},
                       "gemm": {"gemm", "conv"}}


def _is_torch_primitive(module) -> bool:
    mod = type(module).__module__
    return mod.startswith("torch.nn.modules.") and not mod.endswith(".container")


def _loc_score(module, op_k: str) -> float:
    """How plausibly an op of kind ``op_k`` is computed by ``module`` itself."""
    mk = op_kind(type(module).__name__)
    if _is_torch_primitive(module):
        if mk == op_k or op_k in _PRIMARY_KIND_EQUIV.get(mk, ()):
            return 2.0
        return 0.5
    return 1.0


@dataclass(frozen=True)
class OpModule:
    module_path: str | None
    reason: str | None = None  # why unattributed, or a caveat


def keras_scope_path(name: str, resolver: ModulePathResolver) -> str | None:
    """Module path from a TF/Keras scope name (the TF-native route: transformers' TF port names its
    layers after the PyTorch attributes, list items as ``network_._0``), e.g.
    ``tf_swift_former_for_image_classification/swiftformer/encoder/network_._0/blocks_._2/attn/to_key/Tensordot``
    -> ``swiftformer.encoder.network.0.blocks.2.attn.to_key``: the longest prefix that is a module."""
    best = None
    for token in name.split(";"):
        scopes = [p for p in token.strip().split("/") if p]
        if len(scopes) < 2 or "." in scopes[0] or ":" in token:
            continue  # not a scope (litert-torch class paths have dots; signature names have ":")
        if len(scopes) == 2 and best is None:
            best = ""  # model scope / op name: the root model's own call
        parts = [re.sub(r"_\._(\d+)$", r".\1", p) for p in scopes[1:]]
        dotted = ".".join(parts).split(".")
        for k in range(len(dotted), 0, -1):
            cand = ".".join(dotted[:k])
            if cand in resolver.modules:
                if not best or cand.count(".") > best.count("."):
                    best = cand
                break
    return best


def op_module(op: TfliteOp, resolver: ModulePathResolver) -> OpModule:
    """The module that computes ``op``, from its output tensors' locations."""
    locs = [loc for name in op.outputs for loc in tensor_locations(name)]
    if not any(resolver.resolve(loc).complete and resolver.resolve(loc).path for loc in locs):
        keras = next((p for p in (keras_scope_path(n, resolver) for n in op.outputs) if p is not None), None)
        if keras:
            return OpModule(keras, "from the TF/Keras scope of its output tensor")
        if keras == "":
            return OpModule(None, "computed in the root model's own call (TF/Keras scope of the model only)")
    if not locs:
        return OpModule(None, f"output tensor {op.outputs[0] if op.outputs else '?'!r} carries no module location")
    k = op_kind(op.opcode)
    best: tuple[float, Resolved] | None = None
    for loc in locs:
        r = resolver.resolve(loc)
        if r.path is None:
            continue
        mod = resolver.modules.get(r.path)
        score = _loc_score(mod, k) if r.path else 0.1
        if not r.complete:
            score -= 0.25
        if best is None or score > best[0]:
            best = (score, r)
    if best is None:
        return OpModule(None, "no location resolved to a module")
    r = best[1]
    if r.path == "" and not r.complete:
        return OpModule(None, f"its tensor names do not follow the model's module tree ({r.note})")
    if r.path == "":
        return OpModule(None, f"computed in the root module's own forward ({resolver.root_class}), not in a submodule")
    return OpModule(r.path, r.note)


def op_modules(graph: TfliteGraph, root) -> list[OpModule]:
    resolver = ModulePathResolver(root)
    return [op_module(op, resolver) for op in graph.ops]


def artifact_op_modules(manifest, graph: TfliteGraph) -> tuple[list[OpModule], str | None]:
    """Module of each op of an artifact's graph, from its export form rebuilt from the manifest's source, in the
    manifest's canonical module names (edge_export.attribution.module_names); when the model cannot be rebuilt,
    (every op unattributed with why, why)."""
    from edge_export.attribution.module_names import canonical_path, module_name_map

    try:
        from edge_export.models import load_from_source
        from edge_export.models.export_form import export_form

        root, _ = export_form(load_from_source(manifest.source))
    except Exception as e:  # noqa: BLE001 - any failure to rebuild leaves the profile unattributed
        why = f"the PyTorch model could not be rebuilt from the manifest's source ({type(e).__name__}: {e})"
        return [OpModule(None, why) for _ in graph.ops], why
    mapping, _ = module_name_map(manifest)
    ops = op_modules(graph, root)
    if mapping is None:
        return ops, None
    out = []
    for om in ops:
        path, why = canonical_path(mapping, om.module_path)
        out.append(om if path == om.module_path else OpModule(path, why or om.reason))
    return out, None
