"""PT2E post-training quantization shared by every backend that takes a PT2E quantizer."""

from __future__ import annotations

from typing import Annotated, Callable

import torch
from pydantic import BeforeValidator
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

    ctr = (HistogramObserver if observer == "histogram" else MinMaxObserver).with_args(eps=2**-12)

    def swap(spec):
        return None if spec is None else dataclasses.replace(spec, observer_or_fake_quant_ctr=ctr)

    return dataclasses.replace(
        config, input_activation=swap(config.input_activation), output_activation=swap(config.output_activation)
    )


ATTENTION_MODES = {"none": "none", "false": "none", "no": "none", "0": "none", "off": "none",
                   "linears": "linears",
                   "all": "all", "true": "all", "yes": "all", "1": "all", "on": "all"}


def attention_mode(value) -> str:
    """The `quantize_attention` target option of the int8 recipes: 'none', 'linears' or 'all'.

    none: the modules of the family's float_module_types (SwiftFormer's additive attention) stay float;
    linears: their nn.Linear layers are int8 (xnnpack-int8: static; tflite-int8: int8 weights, dynamic range),
        except the ones the module keeps float (its `static_int8_linears()`); the normalize/softmax chain
        between them stays float (README "Tolerances");
    all: quantize everything the quantizer supports.
    """
    raw = str(value).lower()
    if raw not in ATTENTION_MODES:
        raise ValueError(f"quantize_attention={raw!r} is not a mode: choose none, linears or all")
    return ATTENTION_MODES[raw]


def activation_observer(value) -> str:
    if str(value) not in ACTIVATION_OBSERVERS:
        raise ValueError(f"unknown observer {value!r}: choose {' or '.join(ACTIVATION_OBSERVERS)}")
    return str(value)


AttentionMode = Annotated[str, BeforeValidator(attention_mode)]
Observer = Annotated[str, BeforeValidator(activation_observer)]


def linear_layers_inside(module: nn.Module, module_types: list[type]) -> list[str]:
    """Dotted names (from `module`) of the nn.Linear layers inside modules of `module_types` that may be
    quantized statically: the module's own `static_int8_linears()` if it has one, else every nn.Linear."""
    if not module_types:
        return []
    types = tuple(module_types)
    names = []
    for name, m in module.named_modules():
        if isinstance(m, types):
            if hasattr(m, "static_int8_linears"):
                subs = m.static_int8_linears()
            else:
                subs = [sub for sub, c in m.named_modules() if isinstance(c, nn.Linear)]
            names += [f"{name}.{sub}" if name else sub for sub in subs]
    return names


def with_int8_linears(quantizer, names: list[str], config):
    """`quantizer` preceded by one that annotates only the nn.Linear layers named `names` with `config`.

    One pass over the graph. (XNNPACKQuantizer.set_module_name per layer re-runs every pattern annotator per
    name, and its conv-BN annotators torch.export their pattern graphs each time: minutes for XS.)
    """
    if not names:
        return quantizer
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer_utils import OP_TO_ANNOTATOR
    from torchao.quantization.pt2e.quantizer import Quantizer
    from torchao.quantization.pt2e.quantizer.composable_quantizer import ComposableQuantizer
    from torchao.quantization.pt2e.quantizer.utils import get_module_name_filter

    filters = [get_module_name_filter(n) for n in names]

    class _NamedLinears(Quantizer):
        def annotate(self, model):
            OP_TO_ANNOTATOR["linear"](model, config, lambda node: any(f(node) for f in filters))
            return model

        def validate(self, model):
            pass

    return ComposableQuantizer([_NamedLinears(), quantizer])


def _module_names(raw) -> list[str]:
    items = raw if isinstance(raw, (list, tuple)) else str(raw).replace(";", ",").split(",")
    names = [str(i).strip() for i in items if str(i).strip()]
    return [] if names in (["none"], ["[]"]) else list(dict.fromkeys(names))


# The `float_modules` target option of the int8 recipes: dotted module names (as `named_modules()` of the
# export form gives them, and as `edge-export int8-sensitivity` prints them) whose ops stay float.
ModuleNames = Annotated[list[str], BeforeValidator(_module_names)]


def check_module_names(module: nn.Module, names: list[str], option: str = "float_modules") -> list[str]:
    """`names` if each is a submodule of `module`; else one EdgeExportError naming the closest names."""
    import difflib

    from edge_export.errors import EdgeExportError

    known = [n for n, _ in module.named_modules() if n]
    known_set = set(known)
    for name in names:
        if name not in known_set:
            close = difflib.get_close_matches(name, known, n=4, cutoff=0.5) or known[:4]
            raise EdgeExportError(f"{option}: the model has no module {name!r}: closest: {', '.join(close)}")
    return names


def inside_any(path: str | None, names: list[str]) -> bool:
    """Whether dotted module `path` is one of `names` or below one of them."""
    return path is not None and any(path == n or path.startswith(n + ".") for n in names)
