"""ExecuTorch with the XNNPACK delegate: fp32, and int8 (PT2E static, per-channel weights)."""

from __future__ import annotations

import torch
from torch import nn

from edge_export.models.loaded import LoadedModel
from edge_export.options import Flag, TargetOptions
from edge_export.quantization import AttentionMode, ModuleNames, Observer
from edge_export.targets.base import ExportContext, ExportResult, Target
from edge_export.runtimes.executorch.program import (
    delegation_summary,
    io_specs,
    lower_to_xnnpack,
    save_etrecord,
    write_program,
)
from edge_export.targets.registry import register_target


def _lower_to_xnnpack(program: torch.export.ExportedProgram, ctx: ExportContext, with_etrecord: bool):
    ctx.progress("lowering to XNNPACK")
    edge = lower_to_xnnpack(program, generate_etrecord=with_etrecord)
    delegation = delegation_summary(edge, "XnnpackBackend")
    ctx.progress("serialising program")
    et = edge.to_executorch()
    return edge, et, delegation


def _finish(edge, et, delegation, loaded: LoadedModel, sample, ctx: ExportContext, with_etrecord: bool, options):
    write_program(et, ctx.workdir / "model.pte")
    etrecord_file = None
    if with_etrecord and save_etrecord(edge, et, ctx.workdir / "model.etrecord"):
        etrecord_file = "model.etrecord"
    inputs, outputs = io_specs(sample, loaded.num_classes)
    return ExportResult("model.pte", inputs, outputs, delegation, etrecord_file, options)


class XnnpackOptions(TargetOptions):
    etrecord: Flag = True  # save model.etrecord (maps runtime ops to modules for profiling)


class XnnpackInt8Options(XnnpackOptions):
    observer: Observer = "histogram"
    quantize_attention: AttentionMode = "linears"
    float_modules: ModuleNames = []  # dotted module names kept float (edge-export int8-sensitivity prints them)


def xnnpack_int8_quantizer(loaded: LoadedModel, module: nn.Module, observer: str, attention: str,
                           float_modules: list[str]):
    """(the PT2E quantizer xnnpack-int8 uses, the module types it keeps float, the int8 Linear layers inside
    them): shared with int8-sensitivity, which must simulate exactly this configuration."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    from edge_export.models.export_form import float_module_types
    from edge_export.quantization import inside_any, linear_layers_inside, with_activation_observer, with_int8_linears

    config = with_activation_observer(get_symmetric_quantization_config(is_per_channel=True), observer)
    quantizer = XNNPACKQuantizer().set_global(config)
    kept_float = float_module_types(loaded, module) if attention != "all" else []
    int8_inside = linear_layers_inside(module, kept_float) if attention == "linears" else []
    int8_inside = [n for n in int8_inside if not inside_any(n, float_modules)]
    for module_type in kept_float:
        quantizer.set_module_type(module_type, None)
    if float_modules:  # (set_module_name refuses a None config) one filter: nodes of these modules stay float
        from torchao.quantization.pt2e.quantizer.utils import get_module_name_filter

        in_float = [get_module_name_filter(n) for n in float_modules]
        quantizer.set_filter_function(lambda node: not any(f(node) for f in in_float))
    return with_int8_linears(quantizer, int8_inside, config), kept_float, int8_inside


class _XnnpackTarget(Target):
    runtime = "executorch"
    Options = XnnpackOptions

    def _etrecord(self, ctx: ExportContext) -> bool:
        return ctx.options.etrecord


@register_target
class XnnpackFp32(_XnnpackTarget):
    name = "xnnpack-fp32"
    description = "ExecuTorch .pte, XNNPACK delegate, float32"
    precision = "fp32"
    cosine_threshold = 0.99999
    export_cost = 2.0

    def export(self, module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext) -> ExportResult:
        ctx.progress("torch.export")
        program = torch.export.export(module, (sample,), strict=False)
        edge, et, delegation = _lower_to_xnnpack(program, ctx, self._etrecord(ctx))
        return _finish(edge, et, delegation, loaded, sample, ctx, self._etrecord(ctx), {})


@register_target
class XnnpackInt8(_XnnpackTarget):
    name = "xnnpack-int8"
    description = "ExecuTorch .pte, XNNPACK delegate, int8 static PT2E (per-channel weights, per-tensor activations)"
    precision = "int8"
    # Quantization noise stays near cosine 0.999 (README "Tolerances"); a broken scale or a
    # mis-quantized op drops it far below 0.98, so 0.98 separates "quantized" from "wrong".
    cosine_threshold = 0.98
    Options = XnnpackInt8Options
    export_cost = 4.0

    def export(self, module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext) -> ExportResult:
        from edge_export.quantization import check_module_names, quantize_pt2e

        named = check_module_names(module, list(ctx.options.float_modules))
        observer = ctx.options.observer
        attention = ctx.options.quantize_attention
        quantizer, kept_float, int8_inside = xnnpack_int8_quantizer(loaded, module, observer, attention, named)
        calibration = ctx.calibration(loaded)
        calib = calibration.batches
        ctx.progress(f"calibrating on {len(calib)} images")
        converted = quantize_pt2e(module, sample, quantizer, calib, ctx.progress)
        program = torch.export.export(converted, (sample,), strict=False)
        edge, et, delegation = _lower_to_xnnpack(program, ctx, self._etrecord(ctx))
        options = {
            "calibration_images": len(calib),
            "calibration": calibration.source,
            "quantizer": "XNNPACKQuantizer symmetric, per-channel weights, per-tensor static activations",
            "activation_observer": observer,
            "float_module_types": [t.__name__ for t in kept_float],
            "float_modules": named,
            "quantize_attention": attention,
            "int8_linears_inside_float_modules": len(int8_inside),
        }
        return _finish(edge, et, delegation, loaded, sample, ctx, self._etrecord(ctx), options)
