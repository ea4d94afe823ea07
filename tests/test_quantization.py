"""The int8 recipes' shared choices: which attention layers are int8, and the option that picks it."""

from __future__ import annotations

import pytest
import torch

from edge_export.errors import EdgeExportError
from edge_export.models import load_model
from edge_export.quantization import linear_layers_inside, with_int8_linears
from edge_export.targets import get_target
from edge_export.models.export_form import export_form, float_module_types
from edge_export.models.swiftformer.export_form import ExportAdditiveAttention


@pytest.mark.parametrize("raw, mode", [(None, "linears"), ("linears", "linears"), ("false", "none"), ("none", "none"),
                                       ("true", "all"), ("ALL", "all")])
def test_attention_mode_option(raw, mode):
    options = get_target("xnnpack-int8").Options
    assert options.parse({} if raw is None else {"quantize_attention": raw}).quantize_attention == mode
    if raw is None:
        assert get_target("tflite-int8").Options.parse({}).quantize_attention == "none"


def test_unknown_attention_mode_is_one_line():
    for target in ("xnnpack-int8", "tflite-int8"):
        with pytest.raises(EdgeExportError, match=r"quantize_attention='some' is not a mode: choose none, linears or all"):
            get_target(target).Options.parse({"quantize_attention": "some"})


@pytest.mark.parametrize("model_id, proj", [("swiftformer-test", "Proj"), ("swiftformer-test-softmax", "proj")])
def test_static_int8_linears_skip_the_query(model_id, proj):
    loaded = load_model(model_id)
    module, _ = export_form(loaded)
    names = linear_layers_inside(module, float_module_types(loaded, module))
    attn = [n for n, m in module.named_modules() if isinstance(m, ExportAdditiveAttention)]
    assert attn and names == [f"{a}.{c}" for a in attn for c in ("to_key", proj, "final")]
    assert all(isinstance(module.get_submodule(n), torch.nn.Linear) for n in names)
    assert linear_layers_inside(module, []) == []


def test_named_linears_are_annotated_and_the_rest_of_the_attention_is_not():
    """One extra annotation pass: the named linears get int8 weights, to_query and the chain stay float."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    loaded = load_model("swiftformer-test", options={"layer_scale_init_value": 1.0})
    module, _ = export_form(loaded)
    x = torch.randn(loaded.input_shape(), generator=torch.Generator().manual_seed(0))
    config = get_symmetric_quantization_config(is_per_channel=True)
    q = XNNPACKQuantizer().set_global(config)
    q.set_module_type(ExportAdditiveAttention, None)
    names = linear_layers_inside(module, [ExportAdditiveAttention])
    prepared = prepare_pt2e(torch.export.export(module, (x,), strict=False).module(), with_int8_linears(q, names, config))
    prepared(x)
    converted = convert_pt2e(prepared)

    def int8_weight_linears(gm):
        out = set()
        for n in gm.graph.nodes:
            if n.op == "call_function" and n.target == torch.ops.aten.linear.default:
                w = n.args[1]
                if w.op == "call_function" and "dequantize" in str(w.target):
                    out.add(list(n.meta["nn_module_stack"].values())[-1][0].split(".", 1)[-1])
        return out

    quantized = int8_weight_linears(converted)
    attn_linears = {n for n in quantized if ".attn." in n}
    assert {n.split(".attn.", 1)[1] for n in attn_linears} == {"to_key", "Proj", "final"}
    assert not any(n.endswith("attn.to_query") for n in quantized)
