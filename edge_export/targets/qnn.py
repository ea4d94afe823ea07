"""ExecuTorch with Qualcomm's QNN delegate (HTP): fp16 and int8 (QnnQuantizer PT2E). EXPERIMENTAL.

Lowering needs a QNN (QAIRT) SDK: --qnn-sdk PATH, $QNN_SDK_ROOT, or the host SDK that
`edge-export qnn-sdk setup` provisions. It runs in a child process (edge_export.runtimes.qnn): a bad SDK
aborts ExecuTorch's process and lowering drops files into the working directory. The artifact is an
ordinary ExecuTorch .pte whose delegate holds a QNN context binary for one chipset (--soc). Its runner
("executorch-qnn") runs it through executorch.runtime in a child process with the QNN libraries; on
an x86 host that is QNN's HTP *simulator*: right for parity, meaningless as device latency.

Options (--target-opt KEY=VALUE; soc and qnn_sdk also as --soc / --qnn-sdk):
  soc            a QcomChipset name (default SM8650)          qnn_sdk      a QAIRT root
  profile_level  0/off, 1/basic, 2/detailed (default), 3/optrace: per-op QNN events in ETDump from 2 on
  etrecord       true (default) / false                       safe_l2norm  true (default) / false
  timeout        seconds for the lowering child (3600)
  qnn-int8 only: quant_dtype 8a8w (default; 16a8w/16a4w/... unverified), observer histogram (default) /
                 minmax / moving_average, per_channel_linear false (default) / true
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Optional

import torch
from pydantic import BeforeValidator
from torch import nn

from edge_export.artifacts import Delegation
from edge_export.models.loaded import LoadedModel
from edge_export.options import Flag, TargetOptions
from edge_export.models.export_form import L2NormalizeLastDim
from edge_export.targets.base import ExportContext, ExportResult, Target
from edge_export.runtimes.executorch.program import io_specs
from edge_export.targets.registry import register_target

DEFAULT_SOC = "SM8650"
QNN_BACKEND = "QnnBackend"
# QNN profile levels (ExecuTorch compile spec): 0 off, 1 basic, 2 detailed (per-op events), 3 optrace.
# Default detailed: with it an ETDump of a run carries one "<fx node>:OpId_N (cycles)" event per QNN op
# (at 0 only DELEGATE_CALL), with the same outputs (docs/measurements.md "QNN"). Use profile_level=0 for a
# deployment build: detailed profiling costs time on a device at every execute.
PROFILE_LEVELS = {"0": 0, "off": 0, "1": 1, "basic": 1, "2": 2, "detailed": 2, "3": 3, "optrace": 3}
DEFAULT_PROFILE_LEVEL = 2
QUANT_DTYPES = {"8a8w": "use_8a8w", "16a8w": "use_16a8w", "16a16w": "use_16a16w", "8a4w": "use_8a4w",
                "16a4w": "use_16a4w"}
DEFAULT_QUANT_DTYPE = "8a8w"
# QnnQuantizer's default activation observer is MovingAverageMinMax (averaging constant 0.01): with a few
# dozen calibration images its ranges barely leave the first image's and later images clip; histogram keeps
# the fidelity bar where minmax does not (docs/measurements.md "QNN"). It is also xnnpack-int8's default.
OBSERVERS = ("histogram", "minmax", "moving_average")
DEFAULT_OBSERVER = "histogram"
_FP16_MIN_NORMAL = 2.0**-14


class Fp16SafeL2Normalize(nn.Module):
    """L2NormalizeLastDim (v * rsqrt(sum v^2)) with v first divided by max|v| over the same axis.

    The same function (for ||v|| >= ~5e-7, where F.normalize's own eps is 1e-12), but the squares stay in
    [0, 1] with a sum >= 1, inside fp16's normal range. HTP's fp16 flushes subnormals: for activations below
    ~8e-3 every v^2 is subnormal and the plain form loses most of its bits. The squares also get a sane range
    to quantize in int8, and it costs nothing measurable (docs/measurements.md "QNN"). Option
    safe_l2norm=false lowers the plain form.
    """

    def __init__(self, src: L2NormalizeLastDim):
        super().__init__()
        self.register_buffer("ones", src.ones.clone(), persistent=False)

    def forward(self, v):
        u = v / torch.clamp_min(v.abs().amax(dim=-1, keepdim=True), _FP16_MIN_NORMAL)
        # max|u| == 1 when max|v| >= 2^-14, so the sum is >= 1; smaller vectors (all subnormal in fp16) are
        # still exact down to ||v|| ~ 5e-7, and v == 0 gives 0 as before (0 * rsqrt(2^-14)).
        return u * torch.rsqrt(torch.clamp_min((u * u) @ self.ones, _FP16_MIN_NORMAL))


def fp16_safe_form(module: nn.Module) -> tuple[nn.Module, int]:
    """A deep copy of `module` with every L2NormalizeLastDim replaced (same submodule names). (copy, count)"""
    out = copy.deepcopy(module)
    swapped = 0
    for _, parent in list(out.named_modules()):
        for attr, child in list(parent.named_children()):
            if isinstance(child, L2NormalizeLastDim):
                setattr(parent, attr, Fp16SafeL2Normalize(child))
                swapped += 1
    return out.eval(), swapped


def _soc(value) -> str:
    from edge_export.runtimes.qnn.lowering import list_chipsets

    name = str(value or DEFAULT_SOC).strip().upper()
    if name not in list_chipsets():
        raise ValueError(f"unknown --soc {value!r}: choose a QcomChipset from {', '.join(sorted(list_chipsets()))}")
    return name


def _profile_level(value) -> int:
    text = str(value).strip().lower()
    if text not in PROFILE_LEVELS:
        raise ValueError(f"unknown profile_level {text!r}: choose 0/off, 1/basic, 2/detailed or 3/optrace")
    return PROFILE_LEVELS[text]


def _seconds(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"bad timeout {value!r}: give seconds, e.g. timeout=3600") from None


def _quant_dtype(value) -> str:
    name = str(value).strip().lower().removeprefix("use_")
    if name not in QUANT_DTYPES:
        raise ValueError(f"unknown quant_dtype {name!r}: choose from {', '.join(QUANT_DTYPES)}")
    return name


def _observer(value) -> str:
    name = str(value).strip().lower().replace("-", "_")
    if name not in OBSERVERS:
        raise ValueError(f"unknown observer {name!r}: choose from {', '.join(OBSERVERS)}")
    return name


class QnnOptions(TargetOptions):
    soc: Annotated[str, BeforeValidator(_soc)] = DEFAULT_SOC
    qnn_sdk: Optional[str] = None  # a QAIRT root (else $QNN_SDK_ROOT, else the provisioned host SDK)
    profile_level: Annotated[int, BeforeValidator(_profile_level)] = DEFAULT_PROFILE_LEVEL
    etrecord: Flag = True
    timeout: Annotated[float, BeforeValidator(_seconds)] = 3600.0
    safe_l2norm: Flag = True


class QnnInt8Options(QnnOptions):
    quant_dtype: Annotated[str, BeforeValidator(_quant_dtype)] = DEFAULT_QUANT_DTYPE
    observer: Annotated[str, BeforeValidator(_observer)] = DEFAULT_OBSERVER
    per_channel_linear: Flag = False


def qnn_sdk_for(options: QnnOptions):
    """The SDK for these target options: --qnn-sdk (option qnn_sdk) > $QNN_SDK_ROOT > the provisioned one.

    Pure file checks (nothing is loaded); a one-line QnnSdkError (an EdgeExportError) says what to set.
    """
    from edge_export.runtimes.qnn import find_qnn_sdk

    return find_qnn_sdk(QnnOptions.parse(options).qnn_sdk)


def soc_of(options: QnnOptions) -> tuple[str, str]:
    """(chipset name, HTP arch) of option soc."""
    from edge_export.runtimes.qnn.lowering import list_chipsets

    soc = QnnOptions.parse(options).soc
    return soc, list_chipsets()[soc]


class _QnnTarget(Target):
    runtime = "executorch-qnn"
    experimental = True
    Options = QnnOptions
    export_cost = 3.0

    def check_available(self, options: QnnOptions | None = None) -> None:
        """With the target options: validate soc, profile level and find the SDK (file checks only).

        export() calls this with the target's options before the model loads; _lower() repeats it, so a
        direct export() call also fails before any lowering work, leaving nothing in the out dir.
        """
        if options is None:
            return
        self._check(options)

    def _check(self, options):
        options = self.Options.parse(options)
        soc, arch = soc_of(options)
        return soc, arch, options.profile_level, qnn_sdk_for(options)

    def _lower(self, module, loaded: LoadedModel, sample, ctx: ExportContext, precision: str, **kw) -> ExportResult:
        from edge_export.runtimes.qnn.lowering import lower_to_qnn

        soc, arch, level, sdk = self._check(ctx.options)
        etrecord = ctx.options.etrecord
        if not ctx.options.safe_l2norm:
            safe, swapped = module, 0
        else:
            safe, swapped = fp16_safe_form(module)
        notes = [
            f"experimental: QNN HTP for {soc} ({arch}) lowered with {sdk.describe()}; parity measured on QNN's "
            "x86 HTP simulator, not on a phone; the context binary needs a QNN runtime of the same or newer QAIRT",
        ]
        for w in sdk.warnings:
            notes.append(f"QNN SDK: {w}")
        if swapped:
            notes.append(f"{swapped} L2-normalize modules prescaled by max|v| so their squares stay in fp16 range "
                         "(same function; see edge_export.targets.qnn.Fp16SafeL2Normalize)")
        ctx.progress("torch.export")
        program = torch.export.export(safe, (sample,), strict=False)
        ctx.progress(f"lowering to QNN HTP {soc} {precision} in a child process (QAIRT {sdk.qairt_version})")
        result = lower_to_qnn(
            program, (sample,), ctx.workdir / "model.pte", sdk=sdk, chipset=soc, precision=precision,
            profile_level=level, etrecord_path=ctx.workdir / "model.etrecord" if etrecord else None,
            timeout=ctx.options.timeout, **kw,
        )
        ctx.progress(f"lowered in {result.seconds_lower:.1f} s: {result.subgraphs} QNN subgraph(s), "
                     f"{result.fallback_nodes} fallback nodes")
        inputs, outputs = io_specs(sample, loaded.num_classes)
        delegation = Delegation(
            backend=QNN_BACKEND,
            subgraphs=result.subgraphs,
            delegated_nodes=result.delegated_nodes,
            fallback_nodes=result.fallback_nodes,
            fallback_ops=dict(sorted(result.fallback_ops.items(), key=lambda kv: -kv[1])),
            delegated_ops=dict(sorted(result.delegated_ops.items(), key=lambda kv: -kv[1])),
        )
        options: dict[str, Any] = {
            "soc": soc,
            "htp_arch": arch,
            "qairt_version": result.qairt_version,
            "qnn_sdk_provenance": sdk.provisioned_from,
            "qnn_compat_shim": result.uses_compat_shim,
            "profile_level": level,
            "fp16_safe_l2norm": swapped,
            "seconds_lower": round(result.seconds_lower, 2),
            "seconds_child_total": round(result.seconds_total, 2),
        }
        if ctx.options.qnn_sdk is not None:
            # the runner looks here first, so validation after export uses the SDK the user named
            options["qnn_sdk"] = str(sdk.root)
        if result.seconds_quantize is not None:
            options["seconds_quantize"] = round(result.seconds_quantize, 2)
        etrecord_file = "model.etrecord" if result.etrecord_path is not None else None
        return ExportResult("model.pte", inputs, outputs, delegation, etrecord_file, options, notes)


@register_target
class QnnFp16(_QnnTarget):
    name = "qnn-fp16"
    description = "ExecuTorch .pte, Qualcomm QNN HTP delegate, float16 (--soc, default SM8650; host runs: HTP simulator)"
    precision = "fp16"
    # fp16 rounding is ~1e-3 relative per op: 0.999 leaves room for deeper models and real checkpoints, while a
    # numerical fault (L2 normalizations flushed to fp16 subnormals) lands below it (docs/measurements.md "QNN").
    cosine_threshold = 0.999

    def export(self, module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext) -> ExportResult:
        return self._lower(module, loaded, sample, ctx, "fp16")


@register_target
class QnnInt8(_QnnTarget):
    name = "qnn-int8"
    description = ("ExecuTorch .pte, Qualcomm QNN HTP delegate, int8 (QnnQuantizer PT2E, 8a8w, per-channel conv "
                   "weights; --soc; host runs: HTP simulator)")
    precision = "int8"
    # Same bar as xnnpack-int8: quantization noise stays above it, a broken scale or op falls far below
    # (docs/measurements.md "QNN").
    cosine_threshold = 0.98
    Options = QnnInt8Options

    def export(self, module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext) -> ExportResult:
        name, observer, per_channel_linear = ctx.options.quant_dtype, ctx.options.observer, ctx.options.per_channel_linear
        self._check(ctx.options)  # a missing SDK fails before calibration work
        calibration = ctx.calibration(loaded)
        calib = calibration.batches
        ctx.progress(f"quantizing ({name}, {len(calib)} calibration images) and lowering in a child process")
        result = self._lower(
            module, loaded, sample, ctx, "int8", calibration=[(b,) for b in calib], quant_dtype=QUANT_DTYPES[name],
            per_channel_linear=per_channel_linear, act_observer=observer,
        )
        result.target_options.update({
            "quant_dtype": name,
            "quantizer": f"QnnQuantizer {name}, per-channel conv weights"
            + (", per-channel linear weights" if per_channel_linear else ""),
            "calibration_images": len(calib),
            "calibration": calibration.source,
            "activation_observer": observer,
        })
        if name != DEFAULT_QUANT_DTYPE:
            result.notes.append(f"quant_dtype {name} is not verified on the host path (16-bit activations gave "
                                "sign-flipped outputs on the QAIRT 2.51 simulator); validation decides")
        return result


__all__ = ["Fp16SafeL2Normalize", "QnnFp16", "QnnInt8", "QnnInt8Options", "QnnOptions", "fp16_safe_form", "qnn_sdk_for",
           "soc_of"]
