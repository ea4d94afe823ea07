"""tflite-int8 for int8-sensitivity: the target's own plan (one fp32 conversion, one ai-edge-quantizer
calibration), quantized again per candidate with that candidate's modules float, run in LiteRT.

No simulation gap here: each candidate is the model the export would write with that `float_modules`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from edge_export.models.loaded import LoadedModel
from edge_export.runtimes.base import from_program_output, to_program_input
from edge_export.targets.base import ExportContext


class LiteRtInt8Candidates:
    def __init__(self, module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext,
                 threads: int = 1):
        from edge_export.targets.litert import plan_tflite_int8

        self.ctx, self.threads = ctx, threads
        self.plan = plan_tflite_int8(module, loaded, sample, ctx)
        self._paths = [path for _, path in self.plan.op_modules]

    def module_paths(self) -> list[str]:
        return list(dict.fromkeys(p for p in self._paths if p))

    def ops_affected(self, float_modules: list[str]) -> int:
        from edge_export.quantization import inside_any

        return sum(inside_any(p, float_modules) for p in self._paths)

    def model(self, float_modules: list[str]) -> bytes:
        return self.plan.quantize(float_modules, self.ctx)[0]

    def logits(self, float_modules: list[str], batch: torch.Tensor,
               progress: Callable[[int], None] = lambda done: None) -> np.ndarray:
        return run_tflite(self.model(float_modules), batch, self.plan.layout, self.threads, progress)


def run_tflite(content: bytes, batch: torch.Tensor, layout: str, threads: int = 1,
               progress: Callable[[int], None] = lambda done: None) -> np.ndarray:
    """Logits of a .tflite (bytes) on an NCHW float batch, one image per invoke, with the default XNNPACK
    delegate as the runner uses it."""
    from ai_edge_litert.interpreter import Interpreter

    from edge_export.runtimes.litert.inspect import tensor_spec
    from edge_export.targets.litert import LAYOUTS

    interp = Interpreter(model_content=content, num_threads=threads)
    interp.allocate_tensors()
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    in_spec, out_spec = tensor_spec(inp, LAYOUTS[layout]), tensor_spec(out, None)
    rows = []
    for i in range(len(batch)):
        interp.set_tensor(inp["index"], to_program_input(batch[i : i + 1].numpy(), in_spec))
        interp.invoke()
        rows.append(from_program_output(interp.get_tensor(out["index"]), out_spec))
        progress(i + 1)
    return np.concatenate(rows)
