"""Per-module numeric gap: each module's output as the artifact's program computes it vs PyTorch.

``edge-export profile ARTIFACT_DIR --numeric-gap`` (host only) fills ``Profile.numeric_gap``: one
entry per module whose output the program holds as a tensor of its own, in program order, then the
whole model (module path ``""``, the root). The reference is the PyTorch export form
(``edge_export.models.swiftformer.export_form.export_form``: the module that was exported, so module paths are its
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

from edge_export.artifacts import Manifest, program_path
from edge_export.errors import EdgeExportError
from edge_export.profile.schema import NumericGap

DEFAULT_IMAGES = 8
GRAPH_OUTPUT = -1
SUPPORTED_RUNTIMES = ("executorch", "litert")


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
    if manifest.runtime not in SUPPORTED_RUNTIMES:
        raise EdgeExportError(
            f"--numeric-gap is not supported for {manifest.runtime} artifacts ({manifest.target}): the QNN/HTP "
            "delegate exposes no intermediate tensors here; it supports ExecuTorch/XNNPACK and TFLite artifacts"
        )
    if manifest.runtime == "executorch":
        backend = manifest.delegation.backend if manifest.delegation else None
        if backend != "XnnpackBackend":
            raise EdgeExportError(
                f"--numeric-gap supports ExecuTorch artifacts lowered to XNNPACK; {manifest.target} records "
                f"delegate {backend!r}"
            )
        etrecord = Path(artifact_dir) / manifest.etrecord_file if manifest.etrecord_file else None
        if etrecord is None or not etrecord.is_file():
            raise EdgeExportError(
                f"--numeric-gap needs the artifact's ETRecord (the program that was lowered) and {artifact_dir} has "
                "none: re-export it without --target-opt etrecord=false"
            )


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
class _Selection:
    exposed: list[tuple[str, Value]]
    skipped: dict[str, list[str]]  # why -> modules


def _select(values: list[Value], hooks: ReferenceHooks, channels_last: bool) -> _Selection:
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
    return _Selection(exposed, skipped)


# ---------------------------------------------------------------- TFLite


def _litert_program(artifact_dir: Path, manifest: Manifest, hooks: ReferenceHooks, threads: int) -> Instrumented:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    from edge_export.runtimes.base import to_program_input
    from edge_export.runtimes.litert.runner import check_tflite_file, load_interpreter
    from edge_export.attribution.tflite import ModulePathResolver, keras_scope_path, read_tflite_graph, tensor_locations

    path = program_path(artifact_dir, manifest)
    check_tflite_file(path)
    try:
        graph = read_tflite_graph(path)
    except ValueError as e:
        raise EdgeExportError(f"{e}: re-export the artifact") from None
    resolver = ModulePathResolver(hooks.root)
    data = path.read_bytes()
    model = S.ModelT.InitFromPackedBuf(data, 0)
    sg = model.subgraphs[graph.subgraph]
    graph_outputs = [int(t) for t in sg.outputs]

    def owner(name: str) -> str | None:
        paths = []
        for loc in tensor_locations(name):
            r = resolver.resolve(loc)
            if r.complete and r.path:
                paths.append(r.path)
        if not paths:
            k = keras_scope_path(name, resolver)
            paths = [k] if k else []
        return max(paths, key=lambda p: hooks.completion.get(p, -1)) if paths else None

    readers: dict[int, list[int]] = defaultdict(list)
    for op in graph.ops:
        key = next((t for t in op.output_ids if t >= 0), None)
        if key is None:
            continue
        for t in op.input_ids:
            if t >= 0:
                readers[t].append(key)
    values = []
    for op in graph.ops:
        options = getattr(sg.operators[op.index], "builtinOptions", None)
        fused = bool(getattr(options, "fusedActivationFunction", 0))
        for t, name, shape in zip([t for t in op.output_ids if t >= 0], op.outputs, op.output_shapes):
            consumers = list(readers.get(t, ())) + ([GRAPH_OUTPUT] if t in graph_outputs else [])
            values.append(Value(t, op.index, owner(name), consumers, tuple(shape), fused))
    sel = _select(values, hooks, channels_last=True)
    extra = [v.key for _, v in sel.exposed if v.key not in graph_outputs]
    sg.outputs = np.array(graph_outputs + extra, dtype=np.int32)
    for buf in model.buffers or []:
        # Weights stored after the flatbuffer (offset/size, as the XS quantized model has them) would
        # point past the end of the repacked flatbuffer: inline them.
        offset, size = int(getattr(buf, "offset", 0) or 0), int(getattr(buf, "size", 0) or 0)
        if offset > 1:
            buf.data = np.frombuffer(data, dtype=np.uint8, count=size, offset=offset)
            buf.offset, buf.size = 0, 0
    builder = flatbuffers.Builder(max(1024, len(data) + (1 << 16)))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    content = bytes(builder.Output())

    from ai_edge_litert.interpreter import Interpreter

    try:
        interp = Interpreter(model_content=content, num_threads=int(threads))
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise EdgeExportError(f"LiteRT cannot load {path} with its module outputs exposed ({msg})") from None
    inp = interp.get_input_details()[0]
    details = {int(d["index"]): d for d in interp.get_output_details()}
    if set(details) != set(graph_outputs + extra):
        raise EdgeExportError(f"LiteRT did not expose the requested tensors of {path} as outputs")
    shipped = load_interpreter(path, int(threads), xnnpack=True)
    s_in, s_out = shipped.get_input_details()[0], shipped.get_output_details()[0]
    out_key = int(s_out["index"])
    spec = manifest.inputs[0]

    def read(d) -> np.ndarray:
        q = d.get("quantization_parameters") or {}
        return dequantize(interp.get_tensor(d["index"]), q.get("scales"), q.get("zero_points"), int(q.get("quantized_dimension", 0)))

    diffs: list[float] = []

    def run(x_nchw: np.ndarray):
        x = to_program_input(x_nchw, spec)
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        got = {k: read(d) for k, d in details.items()}
        shipped.set_tensor(s_in["index"], x)
        shipped.invoke()
        ref_q = s_out.get("quantization_parameters") or {}
        logits = dequantize(shipped.get_tensor(out_key), ref_q.get("scales"), ref_q.get("zero_points"))
        diffs.append(float(np.abs(got[out_key].astype(np.float64) - logits).max()))
        return got, logits

    return Instrumented(
        sel.exposed, run, channels_last=True,
        how=(f"LiteRT {_version('ai-edge-litert')} Interpreter with its default XNNPACK delegate (as shipped) on the "
             f"shipped .tflite with {len(extra)} module-output tensors added to its subgraph outputs"),
        notes=_skip_notes(sel.skipped), agreement=diffs,
    )


# ---------------------------------------------------------------- ExecuTorch


def _innermost_module(node) -> str | None:
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return None
    path = str(list(stack.values())[-1][0])
    path = path.split("@")[0]
    return path or None


_QDQ_PREFIX = "quantized_decomposed."
_FUSING_PRODUCERS = {"convolution", "conv1d", "conv2d", "conv3d", "linear", "addmm"}
_FUSED_INTO_PRODUCER = {"_native_batch_norm_legit_no_training", "batch_norm", "relu", "hardtanh", "clamp"}


def _target_name(node) -> str:
    """The op name without its namespace: aten.relu.default -> relu.default."""
    name = str(node.target)
    return name.split(".", 1)[1] if name.startswith("aten.") else name


def _is_qdq(node) -> bool:
    return node.op == "call_function" and str(node.target).startswith(_QDQ_PREFIX)


def _executorch_program(artifact_dir: Path, manifest: Manifest, hooks: ReferenceHooks, threads: int,
                        sample: torch.Tensor, progress: Callable[[str], None]) -> Instrumented:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.etrecord import parse_etrecord
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    from edge_export.runtimes.executorch.runner import load_executorch_program, set_executorch_threads
    from edge_export.runtimes.executorch.program import delegation_summary

    etrecord_path = Path(artifact_dir) / manifest.etrecord_file
    progress("reading the ETRecord")
    try:
        etrecord = parse_etrecord(str(etrecord_path))
        ep = etrecord.exported_program
    except Exception as e:  # noqa: BLE001 - any parse failure is a bad file
        raise EdgeExportError(f"{etrecord_path} is not a readable ETRecord ({type(e).__name__}): re-export the artifact") from None
    if ep is None:
        raise EdgeExportError(f"{etrecord_path} holds no exported program: re-export the artifact with this edge-export")
    # Serialising the ETRecord drops non-persistent buffers (measured: the rewritten l2-normalize's `ones`);
    # they are module state computed in __init__, so the export form's own copies are the ones exported.
    buffers = dict(hooks.root.named_buffers())
    for name in ep.graph_signature.non_persistent_buffers:
        if name not in ep.constants:
            if name not in buffers:
                raise EdgeExportError(f"{etrecord_path} lacks buffer {name!r} and the PyTorch model has none: re-export")
            ep.constants[name] = buffers[name]
    gm = ep.module()
    nodes = list(gm.graph.nodes)
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

    owner = {n: _innermost_module(n) for n in nodes if n.op == "call_function"}
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
    values = [Value(position[n], position[n], owner[n], consumers(n), shape(n))
              for n in nodes if n.op == "call_function" and not _is_qdq(n)]
    sel = _select(values, hooks, channels_last=False)
    exposed_nodes, quant = [], []
    for _, v in sel.exposed:
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
    progress(f"lowering the program again with {len(exposed_nodes)} module outputs (XNNPACK, as exported)")
    try:
        program = torch.export.export(gm, (sample,), strict=False)
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        delegation = delegation_summary(edge, "XnnpackBackend")
        buffer = edge.to_executorch().buffer
    except Exception as e:  # noqa: BLE001
        raise EdgeExportError(
            f"could not lower the instrumented program of {artifact_dir} ({type(e).__name__}: {str(e)[:160]})"
        ) from None
    set_executorch_threads(threads)
    # The runtime reads the program from `buffer` without copying it (measured: freeing it corrupts the
    # outputs' metadata), so the buffer and the Program objects are kept alive with the Instrumented.
    instrumented = Runtime.get().load_program(buffer)
    method = instrumented.load_method("forward")
    shipped_program, shipped = load_executorch_program(program_path(artifact_dir, manifest))
    n_orig = len(original)
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
        how=(f"ExecuTorch {_version('executorch')}: the ETRecord's exported program (what export lowered) with "
             f"{len(exposed_nodes)} module outputs added as program outputs ({sum(1 for q in quant if q)} of them the "
             "int8 tensor after the module's quantize node), lowered again with XnnpackPartitioner and run by "
             f"executorch.runtime; its delegation: {delegation.subgraphs} XNNPACK subgraph(s), "
             f"{delegation.fallback_nodes} fallback node(s) (shipped: {shipped_d.subgraphs if shipped_d else '?'}, "
             f"{shipped_d.fallback_nodes if shipped_d else '?'})"),
        notes=_skip_notes(sel.skipped), agreement=diffs, keep_alive=(buffer, instrumented, shipped_program),
    )


# --------------------------------------------------------------------------------------------


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _skip_notes(skipped: dict[str, list[str]]) -> list[str]:
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
    """(one NumericGap per reported module in program order, then the whole model as ``""``; notes)."""
    from edge_export.images import validation_batch
    from edge_export.models import load_from_source
    from edge_export.models.swiftformer.export_form import export_form

    artifact_dir = Path(artifact_dir)
    check_supported(artifact_dir, manifest, images=images)
    progress("numeric gap: rebuilding the PyTorch export form")
    module, _ = export_form(load_from_source(manifest.source))
    names, batch = validation_batch(manifest.preprocessing, images)
    hooks = ReferenceHooks(module)
    try:
        hooks.run(batch[:1])  # call counts, completion order, output shapes
        if manifest.runtime == "litert":
            inst = _litert_program(artifact_dir, manifest, hooks, threads)
        else:
            inst = _executorch_program(artifact_dir, manifest, hooks, threads, batch[:1], progress)
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
    gaps = [acc[m].result(m) for m, _ in inst.exposed if m not in mismatched]
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
