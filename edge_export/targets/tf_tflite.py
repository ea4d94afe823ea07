"""tf-tflite-fp32: the TensorFlow-native route, an independent second way to a .tflite.

transformers' TFSwiftFormerForImageClassification is loaded from the same PyTorch weights (saved with
save_pretrained, read back with from_pt=True) and converted with tf.lite.TFLiteConverter. It shares no
code with litert-torch nor with our rewrites, so agreement of both routes with the PyTorch reference is
evidence about the model, not about one converter.

The TF model computes transformers' form of the attention (softmax over a size-1 axis), so only sources
computing that form are accepted; the normalize form (original repository / timm) is refused.
Input is NCHW `pixel_values` [1, 3, S, S] as in transformers (the model transposes inside): no layout option.

TensorFlow runs in a child process (tf_tflite_worker.py through edge_export.child): edge_export keeps
USE_TF off so transformers never imports TF elsewhere, and TF and ai_edge_litert cannot share a process
(duplicate protobufs).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from edge_export.errors import EdgeExportError, ExportFailed
from edge_export.models.loaded import LoadedModel
from edge_export.targets.base import ExportContext, ExportResult, Target
from edge_export.targets.litert import PROGRAM_FILE, finish
from edge_export.targets.registry import register_target

WORKER = Path(__file__).with_name("tf_tflite_worker.py")
TIMEOUT_S = 3600


def reproduces_softmax_form(loaded: LoadedModel) -> bool:
    """True for transformers' SwiftFormerForImageClassification (softmax form), whatever zoo id loaded it."""
    from edge_export.models.family import get_family

    if get_family(loaded.family).tensorflow_twin:
        return True
    cls = type(loaded.module)
    return cls.__name__ == "SwiftFormerForImageClassification" and cls.__module__.startswith("transformers.")


def refusal(loaded: LoadedModel) -> str:
    form = loaded.source.attention_form
    if form == "normalize":
        variant = loaded.model_id.removesuffix("-normalize")
        return (
            f"tf-tflite-fp32 cannot reproduce {loaded.model_id}: transformers' TFSwiftFormer computes the softmax "
            f"attention, this model the normalize form (original repository / timm); use {variant}-softmax "
            "(or a transformers checkpoint), or the tflite-fp32 target for this model"
        )
    return (
        f"tf-tflite-fp32 only converts transformers' SwiftFormer (softmax attention); {loaded.model_id} "
        f"({loaded.family}) has no TensorFlow twin: use the tflite-fp32 target"
    )


@register_target
class TfTfliteFp32(Target):
    name = "tf-tflite-fp32"
    runtime = "litert"
    description = "TFLite via transformers' TFSwiftFormer (from_pt) + tf.lite.TFLiteConverter, float32, NCHW input"
    precision = "fp32"
    cosine_threshold = 0.99999
    export_cost = 1.5

    def check_available(self, options=None) -> None:
        missing = [m for m in ("tensorflow", "tf_keras") if importlib.util.find_spec(m) is None]
        if missing:
            raise EdgeExportError(
                f"tf-tflite-fp32 needs {' and '.join(missing)}: pip install 'edge-export[tf]' (tensorflow==2.21.0, tf-keras==2.21.0)"
            )

    def export(self, module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext) -> ExportResult:
        if not reproduces_softmax_form(loaded):
            raise EdgeExportError(refusal(loaded))
        out = ctx.workdir / PROGRAM_FILE
        with tempfile.TemporaryDirectory(prefix="tf-tflite-") as hf_dir:
            ctx.progress("saving the PyTorch weights for TensorFlow (save_pretrained)")
            loaded.module.save_pretrained(hf_dir, safe_serialization=True)
            ctx.progress("TFSwiftFormer.from_pretrained(from_pt=True) + TFLiteConverter in a child process")
            result = _run_worker(hf_dir, out, int(sample.shape[-1]))
        options = {
            "layout": "NCHW",
            "converter": "tf.lite.TFLiteConverter.from_concrete_functions (TFLITE_BUILTINS)",
            "tensorflow": result.get("tensorflow"),
            "tf_load_seconds": result.get("load_seconds"),
            "convert_seconds": result.get("convert_seconds"),
        }
        notes = ["tf-tflite-fp32 converts transformers' TF model as is: the rewrites listed apply to the other routes only"]
        return finish(ctx, "nchw", options, notes)


def _run_worker(hf_dir: str, out: Path, image_size: int) -> dict:
    from edge_export.child import ChildFailed, call, signal_name

    # transformers' USE_* switches at AUTO: TF and torch both available (USE_TORCH=1 would disable TF).
    env = {**os.environ, "USE_TF": "AUTO", "USE_TORCH": "AUTO", "USE_FLAX": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        result = call(f"{WORKER}:convert", {"hf_dir": hf_dir, "out": str(out), "image_size": image_size},
                      what="tf-tflite-fp32: the TensorFlow conversion", env=env, timeout=TIMEOUT_S)
    except ChildFailed as e:
        sig = signal_name(e.returncode)
        if sig:
            raise ExportFailed(f"tf-tflite-fp32: the TensorFlow worker died ({sig})") from None
        raise ExportFailed(str(e).replace("the TensorFlow conversion failed", "TensorFlow conversion failed")) from None
    return result
