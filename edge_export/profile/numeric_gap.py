"""Per-module numeric gap: each module's output as the artifact's program computes it vs PyTorch.

``edge-export profile ARTIFACT_DIR --numeric-gap`` (host only) fills ``Profile.numeric_gap``: one
entry per module whose output the program holds as a tensor of its own, in program order, then the
whole model (module path ``""``, the root). The reference is the PyTorch export form
(``edge_export.models.export_form.export_form``: the module that was exported, so module paths are its
``named_modules()``) run with forward hooks on the validation photographs (``edge_export.images``,
the preprocessing of ``validate``).

How the program's intermediate outputs are read - with the shipped kernels, not a re-implementation:

* TFLite (runtime ``litert``): a delegate hides intermediate tensors, but it must hand back every
  subgraph output. So the shipped flatbuffer gets the module-output tensors appended to its
  subgraph outputs (nothing else changes) and runs in LiteRT's Interpreter with its default
  XNNPACK delegate, as shipped. Quantized tensors are dequantized with their own scale/zero point.
* ExecuTorch (runtime ``executorch``, XNNPACK targets): the ``.pte`` is one XNNPACK delegate whose
  intermediates cannot be read, and ``Inspector.calculate_numeric_gap`` only sees delegate
  boundaries (one, here). The ETRecord holds the exported program that was lowered (for int8 the
  PT2E-quantized one); its module outputs are made program outputs - for a quantized output, the
  int8 tensor of its quantize node, i.e. what the next layer reads - and it is lowered again exactly
  as export lowers it (``to_edge_transform_and_lower`` + ``XnnpackPartitioner``) and run by
  ``executorch.runtime``.

Adding outputs may keep the delegate from fusing an op into its producer, so on every image the
instrumented program's logits are compared with the shipped program's; the profile's notes say how
they agreed (measured: bit-identical on SwiftFormer, both runtimes, fp32 and int8).

Which runtime tensor is a module's output: every tensor is computed inside the innermost module
that produced it (ExecuTorch: the FX node's ``nn_module_stack``; TFLite: litert-torch's tensor
names, resolved by :class:`edge_export.attribution.tflite.ModulePathResolver` - a fused op carries
several modules' locations and belongs to the one whose forward finished last, e.g. a conv+BN+ReLU
tensor is the ReLU's output). A module's output is the last tensor computed inside it that is read
outside it (or is a program output). When several modules share one output tensor (a Sequential
and its last layer) the innermost is reported. Not reported: modules computed inside another
module's fused op (a conv whose BN was folded into it: the BN's entry covers both), modules with no
op of their own (Dropout, Identity), modules called more than once (their calls share a name), and
outputs whose shapes do not match (counted in the notes).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from edge_export.artifacts import Manifest
from edge_export.errors import EdgeExportError
from edge_export.profile.schema import NumericGap

DEFAULT_IMAGES = 8
GRAPH_OUTPUT = -1


# --------------------------------------------------------------------------------------------
# Bad input, before anything runs.


def check_supported(artifact_dir: Path, manifest: Manifest | None, device: str = "host",
                    images: int = DEFAULT_IMAGES) -> None:
    """Raise a one-line EdgeExportError when --numeric-gap cannot run for this artifact/device
    (``manifest`` None: check the device and image count only)."""
    if images < 1:
        raise EdgeExportError(f"--gap-images must be at least 1 (got {images})")
    if device != "host":
        raise EdgeExportError(
            f"--numeric-gap runs on the host only (got --device {device}): it compares against PyTorch on this "
            "machine; profile the device without it and run --numeric-gap on the host"
        )
    if manifest is None:
        return
    from edge_export.runtimes import get_runtime

    get_runtime(manifest.runtime).check_numeric_gap(Path(artifact_dir), manifest)


# --------------------------------------------------------------------------------------------
# Program values and which module each one is the output of.


@dataclass
class Value:
    """One tensor the program computes."""

    key: int  # TFLite tensor index / position of the FX node in its graph
    order: int  # position in program order
    module: str | None  # innermost module that computed it (None: the root's own forward or unknown)
    consumers: list[int] = field(default_factory=list)  # keys of values computed from it; GRAPH_OUTPUT
    shape: tuple[int, ...] | None = None
    fused_activation: bool = False  # the op applies an activation to its output (TFLite fused_activation_function)


def _inside(path: str | None, module: str) -> bool:
    return path is not None and (path == module or path.startswith(module + "."))


def module_outputs(values: Sequence[Value], modules: Iterable[str],
                   fits: Callable[[str, Value], bool] = lambda m, v: True) -> dict[str, Value]:
    """{module path: its output value}: the last value (program order) computed inside the module and
    read outside it or returned by the program, if its shape ``fits`` the module's output. Modules
    whose last such value does not fit (it feeds a fused op computed in a later module, e.g. the pad
    before a conv+BN+ReLU) and modules with no value are left out."""
    by_key = {v.key: v for v in values}
    out: dict[str, Value] = {}
    for m in modules:
        best = None
        for v in values:
            if not _inside(v.module, m) or (best is not None and v.order < best.order):
                continue
            if any(c == GRAPH_OUTPUT or c not in by_key or not _inside(by_key[c].module, m) for c in v.consumers):
                best = v
        if best is not None and fits(m, best):
            out[m] = best
    return out


def innermost_per_value(outputs: dict[str, Value], completion: dict[str, int]) -> list[tuple[str, Value]]:
    """One (module, value) per distinct value, the deepest module that outputs it, in program order."""
    by_key: dict[int, list[str]] = defaultdict(list)
    for m, v in outputs.items():
        by_key[v.key].append(m)
    chosen = []
    for key, mods in by_key.items():
        m = max(mods, key=lambda p: (p.count(".") + 1 if p else 0, completion.get(p, -1)))
        chosen.append((m, outputs[m]))
    return sorted(chosen, key=lambda mv: mv[1].order)


# --------------------------------------------------------------------------------------------
# The PyTorch reference: forward hooks on the export form.


class ReferenceHooks:
    """Forward hooks on every submodule: call counts, completion order, and the outputs of ``wanted``."""

    def __init__(self, root: torch.nn.Module):
        self.root = root
        self.calls: Counter[str] = Counter()
        self.completion: dict[str, int] = {}  # path -> index of its LAST completed call
        self.first_completion: dict[str, int] = {}
        self.wanted: set[str] = set()
        self.outputs: dict[str, torch.Tensor] = {}
        self.shapes: dict[str, tuple[int, ...] | None] = {}
        self.fed_by: dict[str, str] = {}  # module -> the (innermost) module whose output is its first input
        self._producer: dict[int, str] = {}  # id(output tensor) -> innermost module that returned it
        self._alive: list = []  # keeps those tensors alive so ids are not reused during the run
        self._k = 0
        self._handles = [m.register_forward_hook(self._hook(p)) for p, m in root.named_modules() if p]

    def _hook(self, path: str):
        def record(module, args, output):
            self.calls[path] += 1
            self.completion[path] = self._k
            self.first_completion.setdefault(path, self._k)
            self._k += 1
            is_tensor = isinstance(output, torch.Tensor)
            self.shapes.setdefault(path, tuple(output.shape) if is_tensor else None)
            if args and isinstance(args[0], torch.Tensor) and id(args[0]) in self._producer:
                self.fed_by.setdefault(path, self._producer[id(args[0])])
            if is_tensor:
                self._producer.setdefault(id(output), path)
                self._alive.append(output)
            if path in self.wanted and is_tensor:
                self.outputs[path] = output.detach().clone()

        return record

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.clear()
        self.outputs = {}
        self._k = 0
        out = self.root(x)
        self._producer, self._alive = {}, []
        if not isinstance(out, torch.Tensor):
            raise EdgeExportError("the export-form module does not return a tensor: cannot compare its logits")
        return out.detach().clone()

    def single_call_modules(self) -> list[str]:
        return [p for p, _ in self.root.named_modules() if p and self.calls.get(p) == 1 and self.shapes.get(p)]

    def close(self) -> None:
        for h in self._handles:
            h.remove()


# --------------------------------------------------------------------------------------------
# Metrics.


class GapAccumulator:
    """cosine = worst image; max_abs over all; rel_l2 = ||got - ref|| / ||ref|| over all images."""

    def __init__(self):
        self.cosine = math.inf
        self.max_abs = 0.0
        self.sq_diff = 0.0
        self.sq_ref = 0.0
        self.images = 0

    def add(self, ref: np.ndarray, got: np.ndarray) -> None:
        r = np.asarray(ref, dtype=np.float64).ravel()
        g = np.asarray(got, dtype=np.float64).ravel()
        d = g - r
        nr, ng = float(np.linalg.norm(r)), float(np.linalg.norm(g))
        if nr == 0.0 and ng == 0.0:
            cos = 1.0
        else:
            cos = float(r @ g) / max(nr * ng, 1e-300)
        self.cosine = min(self.cosine, cos)
        self.max_abs = max(self.max_abs, float(np.abs(d).max()) if d.size else 0.0)
        self.sq_diff += float(d @ d)
        self.sq_ref += float(r @ r)
        self.images += 1

    def result(self, module_path: str) -> NumericGap:
        rel = math.sqrt(self.sq_diff) / math.sqrt(self.sq_ref) if self.sq_ref > 0 else (0.0 if self.sq_diff == 0 else math.inf)
        return NumericGap(module_path=module_path, cosine=self.cosine, max_abs=self.max_abs, rel_l2=rel)


def _squeezed(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(d) for d in shape if d != 1)


def layout_of(got_shape: Sequence[int], ref_shape: Sequence[int], channels_last: bool) -> str | None:
    """How a program tensor of ``got_shape`` holds a PyTorch tensor of ``ref_shape``: "nhwc", "same", or None.

    Size-1 dimensions may differ (a TFLite FULLY_CONNECTED works on [N*T, C] for a PyTorch [N, T, C]).
    With ``channels_last`` (litert-torch programs compute 4-D tensors as NHWC), a 4-D NCHW reference
    is read from an NHWC tensor whenever the shapes allow it, also when C == H == W."""
    ref_shape = tuple(int(d) for d in ref_shape)
    if math.prod(int(d) for d in got_shape) != math.prod(ref_shape):
        return None
    if channels_last and len(ref_shape) == 4:
        n, c, h, w = ref_shape
        if _squeezed(got_shape) == _squeezed((n, h, w, c)):
            return "nhwc"
    return "same" if _squeezed(got_shape) == _squeezed(ref_shape) else None


def as_reference_layout(got: np.ndarray, ref_shape: Sequence[int], channels_last: bool) -> np.ndarray | None:
    """``got`` viewed in the reference's shape (see :func:`layout_of`), or None when it cannot be the same tensor."""
    ref_shape = tuple(int(d) for d in ref_shape)
    how = layout_of(got.shape, ref_shape, channels_last)
    if how == "nhwc":
        n, c, h, w = ref_shape
        return got.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    return got.reshape(ref_shape) if how == "same" else None


def dequantize(a: np.ndarray, scales, zero_points, axis: int = 0) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "iu" or scales is None or len(scales) == 0:
        return a.astype(np.float32)
    s = np.asarray(scales, dtype=np.float64)
    z = np.asarray(zero_points if zero_points is not None and len(zero_points) else [0], dtype=np.float64)
    if s.size > 1:  # per-channel
        shape = [1] * a.ndim
        shape[axis] = s.size
        s, z = s.reshape(shape), (z.reshape(shape) if z.size > 1 else z)
    return ((a.astype(np.float64) - z) * s).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Runtime side: an instrumented program that returns the module outputs.


@dataclass
class Instrumented:
    """A program returning the module outputs; ``run`` gives (program outputs as float, logits)."""

    exposed: list[tuple[str, Value]]  # (module, value) in program order
    run: Callable[[np.ndarray], tuple[dict[int, np.ndarray], np.ndarray]]  # NCHW image -> ({key: array}, logits)
    channels_last: bool
    how: str  # what ran, for the notes
    notes: list[str] = field(default_factory=list)
    agreement: list[float] = field(default_factory=list)  # per image: max |instrumented - shipped| logits
    keep_alive: tuple = ()  # objects the runtime reads from without owning them


_ACTIVATIONS = (torch.nn.ReLU, torch.nn.ReLU6, torch.nn.Hardtanh, torch.nn.Sigmoid, torch.nn.Tanh, torch.nn.Hardswish)


@dataclass
class Selection:
    exposed: list[tuple[str, Value]]
    skipped: dict[str, list[str]]  # why -> modules


def select_outputs(values: list[Value], hooks: ReferenceHooks, channels_last: bool) -> Selection:
    candidates = hooks.single_call_modules()

    def fits(m: str, v: Value) -> bool:
        return v.shape is not None and layout_of(v.shape, hooks.shapes[m], channels_last) is not None

    outs = module_outputs(values, candidates, fits)
    # Modules with no op of their own whose work is inside the previous module's tensor: a batch norm
    # folded into the conv/linear before it (PT2E folds them when quantizing), and an activation fused
    # into the op before it when the tensor names do not say so (TF/Keras scopes name one module per
    # tensor). That tensor is their output; in module order a conv -> BN -> ReLU chain moves twice.
    modules = dict(hooks.root.named_modules())
    computed = {".".join(v.module.split(".")[:k]) for v in values if v.module for k in range(1, v.module.count(".") + 2)}
    for m in candidates:
        p = hooks.fed_by.get(m)
        if m in computed or p not in outs or hooks.shapes.get(p) != hooks.shapes.get(m):
            continue
        folded_bn = (isinstance(modules[m], torch.nn.modules.batchnorm._BatchNorm)
                     and isinstance(modules[p], (torch.nn.modules.conv._ConvNd, torch.nn.Linear)))
        fused_act = isinstance(modules[m], _ACTIVATIONS) and outs[p].fused_activation
        if folded_bn or fused_act:
            outs[m] = outs.pop(p)
    exposed = innermost_per_value(outs, hooks.completion)
    reported = {m for m, _ in exposed}
    skipped: dict[str, list[str]] = {
        "called more than once": [p for p, _ in hooks.root.named_modules() if p and hooks.calls.get(p, 0) > 1],
        "no output tensor of their own (computed inside a neighbour's fused op, or no op: Dropout, Identity)":
            [m for m in candidates if m not in outs],
        "output tensor shared with a reported submodule (same numbers)": [m for m in outs if m not in reported],
    }
    return Selection(exposed, skipped)


# --------------------------------------------------------------------------------------------


def skip_notes(skipped: dict[str, list[str]]) -> list[str]:
    def examples(mods: list[str]) -> str:
        return ", ".join(mods[:3]) + (", ..." if len(mods) > 3 else "")

    parts = [f"{len(mods)} {why} ({examples(mods)})" for why, mods in skipped.items() if mods]
    return ["numeric gap: modules not reported: " + "; ".join(parts)] if parts else []


def compute_numeric_gap(
    artifact_dir: Path,
    manifest: Manifest,
    images: int = DEFAULT_IMAGES,
    threads: int = 1,
    progress: Callable[[str], None] = lambda m: None,
) -> tuple[list[NumericGap], list[str]]:
    """(one NumericGap per reported module in forward order, then the whole model as ``""``; notes)."""
    from edge_export.images import validation_batch
    from edge_export.models import load_from_source
    from edge_export.runtimes import get_runtime
    from edge_export.models.export_form import export_form

    artifact_dir = Path(artifact_dir)
    check_supported(artifact_dir, manifest, images=images)
    progress("numeric gap: rebuilding the PyTorch export form")
    module, _ = export_form(load_from_source(manifest.source))
    names, batch = validation_batch(manifest.preprocessing, images)
    hooks = ReferenceHooks(module)
    try:
        hooks.run(batch[:1])  # call counts, completion order, output shapes
        inst = get_runtime(manifest.runtime).numeric_gap_program(artifact_dir, manifest, hooks, threads, batch[:1],
                                                                 progress)
        hooks.wanted = {m for m, _ in inst.exposed}
        acc = {m: GapAccumulator() for m, _ in inst.exposed}
        whole = GapAccumulator()
        mismatched: dict[str, str] = {}
        progress(f"numeric gap: {len(inst.exposed)} module outputs on {len(names)} images")
        for i in range(len(names)):
            x = batch[i : i + 1]
            ref_logits = hooks.run(x)
            got, logits = inst.run(x.numpy())
            whole.add(ref_logits.numpy(), logits)
            for m, v in inst.exposed:
                if m in mismatched:
                    continue
                ref = hooks.outputs.get(m)
                a = got.get(v.key)
                view = as_reference_layout(a, ref.shape, inst.channels_last) if ref is not None and a is not None else None
                if view is None:
                    mismatched[m] = f"{tuple(a.shape) if a is not None else None} vs {tuple(ref.shape) if ref is not None else None}"
                    continue
                acc[m].add(ref.numpy(), view)
    finally:
        hooks.close()
    # In PyTorch's forward order: a program's op order can differ (a float-kept op's QUANTIZE/DEQUANTIZE pair
    # in an int8 .tflite), and the rows should read like the model.
    forward = sorted(inst.exposed, key=lambda mv: (hooks.completion.get(mv[0], len(hooks.completion)), mv[1].order))
    gaps = [acc[m].result(m) for m, _ in forward if m not in mismatched]
    gaps.append(whole.result(""))
    diffs = inst.agreement
    same = sum(1 for d in diffs if d == 0.0)
    notes = [
        f"numeric gap: {len(gaps) - 1} module outputs and the whole model ('' = the shipped program's logits, "
        f"as validate measures them) vs the PyTorch export form (forward hooks) on {len(names)} validation "
        "photographs; cosine = worst image, rel_l2 = ||program - PyTorch|| / ||PyTorch|| over all images",
        f"numeric gap, how: {inst.how}",
        f"numeric gap: the instrumented program's logits equal the shipped program's on {same}/{len(diffs)} images"
        + ("" if same == len(diffs) else f" (max |diff| {max(diffs):.3g}: adding outputs changed some fusion; "
           "per-module numbers describe the instrumented program)"),
        *inst.notes,
    ]
    if mismatched:
        ex = ", ".join(f"{m} {s}" for m, s in list(mismatched.items())[:3])
        notes.append(f"numeric gap: {len(mismatched)} module outputs left out, shapes do not match PyTorch's ({ex})")
    return gaps, notes
