"""TFLite through litert-torch: fp32, full-integer static int8, dynamic-range int8.

All three start from the same fp32 conversion of the export form (edge_export.models.export_form, shared with
ExecuTorch), NHWC input by default (`litert_torch.to_channel_last_io`: what an Android consumer feeds,
and no transpose op at the input) or NCHW with option layout=nchw. The int8 targets quantize that
fp32 flatbuffer with ai-edge-quantizer, so one export call converts once for all three.

tflite-int8 recipe (README "Tolerances"; the numbers behind each choice: docs/measurements.md "int8 recipes"):
- static_wi8_ai8: int8 per-channel weights, int8 activations calibrated (min/max) on the same real
  photographs as xnnpack-int8 (images.calibration; the user's with --calib-dir). The input is int8: the manifest records
  its scale/zero point and runners quantize.
- DIV stays float (option float_ops, default DIV): TFLite's int8 DIV aborts when a divisor quantizes to
  its zero point (`div.cc: data[i] != zero_point`) - the stock F.normalize graph hits it on real
  photographs. XNNPACK has no int8 DIV, so float costs nothing. The rewritten SwiftFormer has no DIV
  (rsqrt instead) and runs fully quantized, but its quantized normalize chain costs fidelity below the
  int8 bar, so:
- the additive attention stays float (the family's float_module_types; quantize_attention=none, the default
  here); quantize_attention=linears gives its Linear layers but to_query int8 weights (dynamic range) and
  =all quantizes it all. linears is not the default here, unlike xnnpack-int8: on the tiny random config it
  falls below the int8 bar.
- one XNNPACK partition: LiteRT's XNNPACK delegate has GELU and AVERAGE_POOL_2D in float only and refuses an
  int8 ADD whose input/output scale ratio is outside [2^-10, 2^8) (xnnpack_delegate.cc); int8 ones would run
  on builtin kernels, each splitting the delegate (XS: 24 partitions). So float_ops defaults to DIV, GELU,
  AVERAGE_POOL_2D, and after quantizing, the ADDs the delegate would refuse are found from their scales and
  the model is quantized again with those kept float (same calibration).
- the fully-connected weights of the modules kept float are stored int8 and dequantized once at load
  (weight-only, option kept_float_weights=int8, the default): float compute at int8 size.
- the logits stay float: the ops from the last FULLY_CONNECTED/CONV to the output compute in float, with
  that layer's weights int8 (dynamic range). Int8 logits clip wherever validation logits leave the
  calibrated range; float weights there would cost most of the int8 size gain.
Every quantized model is invoked on the calibration images in a child process, with XNNPACK and with
builtin kernels, before it is written: one that fails at run time fails the export naming the op.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import BeforeValidator
from torch import nn

from edge_export import export_pool
from edge_export.artifacts import TensorSpec
from edge_export.errors import EdgeExportError, ExportFailed
from edge_export.models.loaded import LoadedModel
from edge_export.options import TargetOptions
from edge_export.quantization import AttentionMode, ModuleNames
from edge_export.runtimes.base import to_program_input
from edge_export.targets.base import ExportContext, ExportResult, Target
from edge_export.targets.registry import register_target

PROGRAM_FILE = "model.tflite"
LAYOUTS = {"nhwc": "NHWC", "nchw": "NCHW"}
# DIV: see the module docstring. GELU, AVERAGE_POOL_2D: LiteRT's XNNPACK delegate takes them in float only, so
# int8 ones run on builtin kernels and split the delegate into partitions (XS: 24 partitions instead of one).
DEFAULT_FLOAT_OPS = ("DIV", "GELU", "AVERAGE_POOL_2D")
# LiteRT's XNNPACK delegate refuses an int8 ADD whose input/output scale ratio is outside [2^-10, 2^8)
# (xnnpack_delegate.cc, CheckTensorsInputOutputScale); such ADDs are kept float so they stay in the delegate.
_ADD_SCALE_RATIO = (2.0 ** -10, 2.0 ** 8)
_LOGITS_STOP = {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL"}


def _layout(value) -> str:
    value = str(value).lower()
    if value not in LAYOUTS:
        raise ValueError(f"layout {value!r} is not a layout: choose nhwc (default, what Android feeds) or nchw")
    return value


def _float_ops(raw) -> list[str]:
    from ai_edge_quantizer.qtyping import TFLOperationName

    items = raw if isinstance(raw, (list, tuple)) else str(raw).replace(";", ",").split(",")
    names = [str(i).strip().upper() for i in items if str(i).strip()]
    if names in (["NONE"], ["[]"]):
        return []
    known = {op.value for op in TFLOperationName}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"float_ops: {', '.join(unknown)} is not a TFLite op ai-edge-quantizer knows: use names like DIV, GELU, RSQRT, or 'none'"
        )
    return names


class LiteRtOptions(TargetOptions):
    layout: Annotated[str, BeforeValidator(_layout)] = "nhwc"


class LiteRtInt8Options(LiteRtOptions):
    float_ops: Annotated[list[str], BeforeValidator(_float_ops)] = list(DEFAULT_FLOAT_OPS)
    # none by default: with linears int8 the tiny random config falls below the int8 bar (docs/measurements.md)
    quantize_attention: AttentionMode = "none"
    float_modules: ModuleNames = []  # dotted module names kept float (edge-export int8-sensitivity prints them)
    # The fully-connected weights inside modules kept float (quantize_attention=none): int8 stored, dequantized to
    # float when the model loads (weight-only), so they compute in float at int8 size; "float" stores them float.
    kept_float_weights: Literal["int8", "float"] = "int8"


@contextlib.contextmanager
def _quiet_litert_torch():
    """litert-torch prints its own progress tree to stdout; the export reports through ctx.progress."""
    old = os.environ.get("LITERT_TORCH_SHOW_PROGRESS")
    os.environ["LITERT_TORCH_SHOW_PROGRESS"] = "n"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("LITERT_TORCH_SHOW_PROGRESS", None)
        else:
            os.environ["LITERT_TORCH_SHOW_PROGRESS"] = old


# One fp32 flatbuffer, keyed by the export-form module object: export() passes the same module to every
# target of a call, so tflite-fp32 + tflite-int8 + tflite-dynamic-int8 convert once (a conversion takes tens of s).
_last_conversion: dict = {}


def convert_fp32(module: nn.Module, sample: torch.Tensor, layout: str, ctx: ExportContext) -> tuple[bytes, float]:
    """(fp32 .tflite bytes, seconds the conversion took)."""
    key = (id(module), layout, tuple(sample.shape))
    hit = _last_conversion.get("entry")
    if hit is not None and hit[0] == key and hit[1]() is module:
        ctx.progress(f"reusing the fp32 conversion ({layout.upper()}) of this export")
        return hit[2], hit[3]
    import litert_torch

    if layout == "nhwc":
        wrapped = litert_torch.to_channel_last_io(module, args=[0]).eval()
        args = (sample.permute(0, 2, 3, 1).contiguous(),)
    else:
        wrapped, args = module, (sample,)
    ctx.progress(f"litert_torch.convert ({layout.upper()} input)")
    start = time.perf_counter()
    with _quiet_litert_torch():
        content = bytes(litert_torch.convert(wrapped, args).model_content())
    seconds = round(time.perf_counter() - start, 2)
    _last_conversion["entry"] = (key, weakref.ref(module), content, seconds)
    # litert-torch converts through MLIR, whose LLVM thread pool lives on in this process; a forked export
    # worker that converts again waits forever on the pool's threads, which fork did not copy.
    export_pool.mark_fork_unsafe("a litert-torch conversion ran in this process and its MLIR thread pool does "
                                 "not survive fork")
    return content, seconds


def io_specs(path, layout: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    from edge_export.runtimes.litert.inspect import tensor_spec
    from edge_export.runtimes.litert.runner import load_interpreter

    interp = load_interpreter(path, 1, xnnpack=False)
    inputs = [tensor_spec(d, LAYOUTS[layout]) for d in interp.get_input_details()]
    outputs = [tensor_spec(d, "NC" if len(d["shape"]) == 2 else None) for d in interp.get_output_details()]
    return inputs, outputs


def finish(ctx: ExportContext, layout: str, options: dict, notes: list[str] | None = None) -> ExportResult:
    """Specs and the XNNPACK op table of the written model (the manifest's delegation)."""
    from edge_export.runtimes.litert.inspect import inspect_tflite

    path = ctx.workdir / PROGRAM_FILE
    inputs, outputs = io_specs(path, layout)
    info = inspect_tflite(path)
    return ExportResult(PROGRAM_FILE, inputs, outputs, info.delegation(), None, options, notes or [])


class _LiteRTTarget(Target):
    runtime = "litert"
    Options = LiteRtOptions
    work_group = "litert-torch"  # one fp32 conversion (convert_fp32) for the three


@register_target
class TfliteFp32(_LiteRTTarget):
    name = "tflite-fp32"
    description = "TFLite flatbuffer via litert-torch, float32 (NHWC input unless layout=nchw)"
    precision = "fp32"
    cosine_threshold = 0.99999
    export_cost = 1.0

    def export(self, module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext) -> ExportResult:
        layout = ctx.options.layout
        content, seconds = convert_fp32(module, sample, layout, ctx)
        (ctx.workdir / PROGRAM_FILE).write_bytes(content)
        return finish(ctx, layout, {"layout": LAYOUTS[layout], "converter": "litert_torch.convert", "convert_seconds": seconds})


# ---------------------------------------------------------------- int8 (ai-edge-quantizer on the fp32 flatbuffer)


def _signature(content: bytes) -> tuple[str, str]:
    from ai_edge_litert.interpreter import Interpreter

    sigs = Interpreter(model_content=content).get_signature_list()
    if len(sigs) != 1:
        raise ExportFailed(f"expected one signature in the converted model, found {sorted(sigs)}")
    key, sig = next(iter(sigs.items()))
    if len(sig["inputs"]) != 1:
        raise ExportFailed(f"expected one input in signature {key}, found {sig['inputs']}")
    return key, sig["inputs"][0]


def _logits_scopes(content: bytes) -> list[str]:
    """ai-edge-quantizer scopes (op output names) of the ops from the last matmul/conv to each output."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    ops = interp._get_ops_details()
    producer = {int(t): o for o in ops for t in o["outputs"] if t >= 0}
    names, stack, seen = [], [int(d["index"]) for d in interp.get_output_details()], set()
    while stack:
        t = stack.pop()
        op = producer.get(t)
        if op is None or op["index"] in seen:
            continue
        seen.add(op["index"])
        names.append(_op_scope(interp._get_tensor_details(int(o), 0)["name"] for o in op["outputs"] if o >= 0))
        if op["op_name"] not in _LOGITS_STOP:
            stack.extend(int(i) for i in op["inputs"] if i >= 0)
    return names


def _op_scope(output_names) -> str:
    """ai-edge-quantizer's scope of an op: its output tensor names, each followed by ';'."""
    return "".join(f"{n};" for n in output_names)


def op_modules(content: bytes, module: nn.Module) -> list[tuple[str, str | None]]:
    """(scope, dotted module path or None) of every op of a converted model, in op order: the module that
    computes it (of `module`, the export form), from litert-torch's tensor names (attribution.tflite_names)."""
    from edge_export.attribution.tflite_graph import read_tflite_graph
    from edge_export.attribution.tflite_names import ModulePathResolver, op_module

    resolver = ModulePathResolver(module)
    graph = read_tflite_graph("<converted fp32 model>", content)
    return [(_op_scope(op.outputs), op_module(op, resolver).module_path) for op in graph.ops]


def _calibration(loaded: LoadedModel, ctx: ExportContext, layout: str) -> tuple[np.ndarray, dict]:
    """(calibration images as float arrays in the program's layout, [N, ...] with the batch dim dropped; where
    they came from)."""
    spec = TensorSpec(name="input", shape=list(loaded.input_shape()), dtype="float32", layout=LAYOUTS[layout])
    calibration = ctx.calibration(loaded)
    return np.concatenate([to_program_input(b.numpy(), spec) for b in calibration.batches]), calibration.source


def _check_runs(target: str, path, program_inputs: np.ndarray, ctx: ExportContext) -> int:
    """Invoke the quantized model on every calibration image before it ships (module docstring)."""
    from edge_export.runtimes.litert.runner import smoke_run

    ctx.progress(f"running the quantized model on {len(program_inputs)} calibration images (XNNPACK and builtin kernels)")
    try:
        return smoke_run(path, program_inputs, what=f"{target}: the quantized model")["runs"]
    except ExportFailed as e:
        raise ExportFailed(f"{e}; nothing was written (keep that op float with the target option float_ops=OP,...)") from None


def _quantized_inputs(calib: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.quantization is None:
        return calib.astype(np.dtype(spec.dtype))
    spec_no_layout = spec.model_copy(update={"layout": None})  # calib is already in program layout
    return to_program_input(calib, spec_no_layout)


def _quantize(content: bytes, recipe_name: str, configure, calib: np.ndarray | None, ctx: ExportContext,
              calibrated=None) -> tuple[bytes, object]:
    """(quantized model, the calibration result: pass it back as `calibrated` to quantize again without
    calibrating - int8-sensitivity does, once per candidate recipe)."""
    from ai_edge_quantizer import quantizer, recipe

    q = quantizer.Quantizer(content)
    q.load_quantization_recipe(getattr(recipe, recipe_name)())
    configure(q)
    result = calibrated
    if q.need_calibration and result is None:
        if calib is None:
            raise ExportFailed(f"{recipe_name} needs calibration data")
        key, arg = _signature(content)
        ctx.progress(f"calibrating on {len(calib)} images")
        result = q.calibrate({key: [{arg: x[None]} for x in calib]}, num_threads=1)
    ctx.progress(f"quantizing ({recipe_name})")
    return bytes(q.quantize(result, enable_progress_bar=False, enable_progress_report=False).quantized_model), result


@dataclass
class TfliteInt8Plan:
    """What tflite-int8 settles before quantizing (the fp32 conversion, the calibration images, which ops stay
    float): the export and int8-sensitivity quantize through the same plan, so they use one recipe."""

    module: nn.Module
    content: bytes  # the fp32 flatbuffer
    convert_seconds: float
    layout: str
    calib: np.ndarray  # calibration images in program layout
    calib_source: dict
    float_ops: list[str]
    attention: str
    kept_modules: list[type]
    int8_children: list[str]
    logits_scopes: list[str]
    kept_float_weights: str = "int8"
    calibrated: object = None  # ai-edge-quantizer's calibration result, once computed
    float_adds: list[str] | None = None  # scopes of ADDs kept float for XNNPACK (found by the first quantize)
    _op_modules: list | None = field(default=None, repr=False)

    @property
    def op_modules(self) -> list[tuple[str, str | None]]:
        """op_modules() of the fp32 model, resolved once per plan (the search quantizes it once per candidate)."""
        if self._op_modules is None:
            self._op_modules = op_modules(self.content, self.module)
        return self._op_modules

    def quantize(self, float_modules: list[str], ctx: ExportContext) -> tuple[bytes, int]:
        """(the int8 model with the modules `float_modules` kept float, how many ops those modules have)."""
        from ai_edge_quantizer.algorithm_manager import AlgorithmName
        from ai_edge_quantizer.qtyping import TFLOperationName

        from edge_export.quantization import inside_any

        named_scopes = [scope for scope, path in self.op_modules if inside_any(path, float_modules)] if float_modules else []
        if float_modules and not named_scopes:
            raise EdgeExportError(f"float_modules: no op of the converted model belongs to {', '.join(float_modules)} "
                                  "(its ops were fused into a neighbour's): name the module that holds it")

        def configure(q, float_scopes=()):
            keep = AlgorithmName.NO_QUANTIZE
            for op in self.float_ops:
                q.update_quantization_recipe(regex=".*", operation_name=TFLOperationName(op), algorithm_key=keep)
            for t in self.kept_modules:  # litert-torch names tensors ".../<module>.<Class>_<attr>/..."
                scope = re.escape(f"{t.__module__}.{t.__name__}_")
                q.update_quantization_recipe(regex=scope, operation_name=TFLOperationName.ALL_SUPPORTED, algorithm_key=keep)
                if self.kept_float_weights == "int8":  # weight-only: float compute, int8 storage (later config wins)
                    q.add_weight_only_config(regex=scope, operation_name=TFLOperationName.FULLY_CONNECTED, num_bits=8)
                if self.attention == "linears" and self.int8_children:  # int8 weights, dynamic range (later config wins)
                    q.add_dynamic_config(regex=scope + r"[^/;]*/torch\.nn\.modules\.linear\.Linear_("
                                         + "|".join(map(re.escape, self.int8_children)) + ")(/|;|$)",
                                         operation_name=TFLOperationName.FULLY_CONNECTED, num_bits=8)
            for scope in [*named_scopes, *float_scopes]:
                q.update_quantization_recipe(regex=f"^{re.escape(scope)}$", operation_name=TFLOperationName.ALL_SUPPORTED,
                                             algorithm_key=keep)
            for scope in self.logits_scopes:
                exact = f"^{re.escape(scope)}$"
                q.update_quantization_recipe(regex=exact, operation_name=TFLOperationName.ALL_SUPPORTED, algorithm_key=keep)
                for op in (TFLOperationName.FULLY_CONNECTED, TFLOperationName.CONV_2D):  # later config wins
                    q.add_dynamic_config(regex=exact, operation_name=op, num_bits=8)

        if self.float_adds is not None:  # the refused ADDs follow from the calibration scales, shared by every call
            quantized, _ = _quantize(self.content, "static_wi8_ai8", lambda q: configure(q, self.float_adds),
                                     self.calib, ctx, self.calibrated)
            return quantized, len(named_scopes)
        quantized, self.calibrated = _quantize(self.content, "static_wi8_ai8", configure, self.calib, ctx, self.calibrated)
        fp32_scopes = {scope for scope, _ in self.op_modules}
        self.float_adds = [scope for scope in adds_xnnpack_refuses(quantized) if scope in fp32_scopes]
        if self.float_adds:
            ctx.progress(f"keeping {len(self.float_adds)} ADD(s) float: their int8 scales are outside XNNPACK's range")
            quantized, _ = _quantize(self.content, "static_wi8_ai8", lambda q: configure(q, self.float_adds), self.calib,
                                     ctx, self.calibrated)
        return quantized, len(named_scopes)


def adds_xnnpack_refuses(content: bytes) -> list[str]:
    """Scopes of the int8 ADDs of a quantized model whose input/output scale ratio LiteRT's XNNPACK delegate
    refuses (_ADD_SCALE_RATIO): they would run on builtin kernels between two delegate partitions."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=content,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    low, high = _ADD_SCALE_RATIO
    refused = []
    for op in interpreter._get_ops_details():
        if op["op_name"] != "ADD":
            continue
        tensors = [interpreter._get_tensor_details(int(t), 0) for t in [*op["inputs"], *op["outputs"]] if t >= 0]
        if any(t["dtype"] != np.int8 or not len(t["quantization_parameters"]["scales"]) for t in tensors):
            continue
        scale_out = tensors[-1]["quantization_parameters"]["scales"][0]
        ratios = [t["quantization_parameters"]["scales"][0] / scale_out for t in tensors[:-1]]
        if any(not low <= r < high for r in ratios):
            refused.append(_op_scope([interpreter._get_tensor_details(int(t), 0)["name"] for t in op["outputs"]]))
    return refused


def plan_tflite_int8(module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext) -> TfliteInt8Plan:
    from edge_export.models.export_form import float_module_types
    from edge_export.quantization import linear_layers_inside

    layout = ctx.options.layout
    attention = ctx.options.quantize_attention
    kept_modules = float_module_types(loaded, module) if attention != "all" else []
    int8_children = sorted({n.rsplit(".", 1)[-1] for n in linear_layers_inside(module, kept_modules)})
    content, convert_seconds = convert_fp32(module, sample, layout, ctx)
    calib, calib_source = _calibration(loaded, ctx, layout)
    return TfliteInt8Plan(module, content, convert_seconds, layout, calib, calib_source, list(ctx.options.float_ops),
                          attention, kept_modules, int8_children, _logits_scopes(content), ctx.options.kept_float_weights)


@register_target
class TfliteInt8(_LiteRTTarget):
    name = "tflite-int8"
    description = "TFLite via litert-torch + ai-edge-quantizer static int8 (int8 input; attention normalize chain, DIV and logits float)"
    precision = "int8"
    # Same rationale as xnnpack-int8: quantization noise stays near cosine 0.999; a broken scale or a
    # mis-quantized op drops it far below 0.98.
    cosine_threshold = 0.98
    Options = LiteRtInt8Options
    export_cost = 0.3

    def export(self, module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext) -> ExportResult:
        from edge_export.quantization import check_module_names
        from edge_export.runtimes.litert.inspect import inspect_tflite

        named = check_module_names(module, list(ctx.options.float_modules))
        plan = plan_tflite_int8(module, loaded, sample, ctx)
        start = time.perf_counter()
        quantized, named_ops = plan.quantize(named, ctx)
        path = ctx.workdir / PROGRAM_FILE
        path.write_bytes(quantized)
        inputs, _ = io_specs(path, plan.layout)
        runs = _check_runs(self.name, path, _quantized_inputs(plan.calib, inputs[0]), ctx)
        info = inspect_tflite(path)
        options = {
            "layout": LAYOUTS[plan.layout],
            "recipe": "ai-edge-quantizer static_wi8_ai8 (int8 per-channel weights, int8 min/max-calibrated activations)",
            "calibration_images": len(plan.calib),
            "calibration": plan.calib_source,
            "float_ops": plan.float_ops,
            "float_module_types": [t.__name__ for t in plan.kept_modules],
            "float_modules": named,
            "float_module_ops": named_ops,
            "float_adds": len(plan.float_adds),
            "kept_float_weights": plan.kept_float_weights,
            "quantize_attention": plan.attention,
            "logits": f"float: last {len(plan.logits_scopes)} ops (FC/conv weights int8, dynamic range)",
            "float_compute_ops": info.float_compute_ops(),
            "smoke_runs": runs,
            "convert_seconds": plan.convert_seconds,
            "quantize_seconds": round(time.perf_counter() - start, 2),
        }
        return finish(ctx, plan.layout, options)


@register_target
class TfliteDynamicInt8(_LiteRTTarget):
    name = "tflite-dynamic-int8"
    description = "TFLite via litert-torch + ai-edge-quantizer dynamic-range int8 (int8 weights, float I/O)"
    precision = "int8"
    cosine_threshold = 0.98  # as tflite-int8 (activations quantized per inference: closer to fp32)
    export_cost = 0.2

    def export(self, module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext) -> ExportResult:
        layout = ctx.options.layout
        content, convert_seconds = convert_fp32(module, sample, layout, ctx)
        start = time.perf_counter()
        quantized, _ = _quantize(content, "dynamic_wi8_afp32", lambda q: None, None, ctx)
        path = ctx.workdir / PROGRAM_FILE
        path.write_bytes(quantized)
        calib, _ = _calibration(loaded, ctx, layout)
        runs = _check_runs(self.name, path, calib, ctx)
        options = {
            "layout": LAYOUTS[layout],
            "recipe": "ai-edge-quantizer dynamic_wi8_afp32 (int8 per-channel weights, activations quantized at run time)",
            "smoke_runs": runs,
            "convert_seconds": convert_seconds,
            "quantize_seconds": round(time.perf_counter() - start, 2),
        }
        return finish(ctx, layout, options)
