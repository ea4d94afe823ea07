"""PT2E post-training quantization shared by every backend that takes a PT2E quantizer."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def quantize_pt2e(
    module: nn.Module,
    sample: torch.Tensor,
    quantizer,
    calibration: list[torch.Tensor],
    progress: Callable[[str], None] = lambda m: None,
    fold_quantize: bool = True,
) -> torch.fx.GraphModule:
    """export -> prepare_pt2e -> run the calibration batches -> convert_pt2e. Returns the converted module."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(module, (sample,), strict=False).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for i, batch in enumerate(calibration):
            prepared(batch)
            if (i + 1) % 8 == 0 or i + 1 == len(calibration):
                progress(f"calibrated {i + 1}/{len(calibration)} images")
    converted = convert_pt2e(prepared, fold_quantize=fold_quantize)
    try:
        from torchao.quantization.pt2e import move_exported_model_to_eval

        move_exported_model_to_eval(converted)
    except ImportError:
        pass
    return converted


ACTIVATION_OBSERVERS = ("histogram", "minmax")


def with_activation_observer(config, observer: str):
    """A PT2E QuantizationConfig whose activation observers are `observer`.

    HistogramObserver (the quantizers' default) searches clipping ranges and is slow to calibrate;
    MinMaxObserver takes the observed range as is: much faster, sometimes less accurate.
    """
    import dataclasses

    from torchao.quantization.pt2e.observer import HistogramObserver, MinMaxObserver

    from edge_export.errors import EdgeExportError

    if observer not in ACTIVATION_OBSERVERS:
        raise EdgeExportError(f"unknown observer {observer!r}: choose {' or '.join(ACTIVATION_OBSERVERS)}")
    ctr = (HistogramObserver if observer == "histogram" else MinMaxObserver).with_args(eps=2**-12)

    def swap(spec):
        return None if spec is None else dataclasses.replace(spec, observer_or_fake_quant_ctr=ctr)

    return dataclasses.replace(
        config, input_activation=swap(config.input_activation), output_activation=swap(config.output_activation)
    )
