"""The export-friendly forms compute the same function as the models they replace."""

from __future__ import annotations

import pytest
import torch

from edge_export.models import load_model
from edge_export.models.export_form import export_form


@pytest.mark.parametrize("model_id", ["swiftformer-test-normalize", "swiftformer-test-softmax",
                                      "swiftformer-xs-normalize", "swiftformer-xs-softmax"])
def test_rewritten_equals_original(model_id):
    torch.manual_seed(0)
    m = load_model(model_id, options={"layer_scale_init_value": 1.0})
    s = m.preprocessing.image_size
    x = torch.randn(2, 3, s, s) * 2
    rewritten, applied = export_form(m)
    assert applied, "SwiftFormer must get its rewrites"
    with torch.no_grad():
        ref, got = m.logits(x), rewritten(x)
    assert ref.abs().max() > 0
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max() + 1e-7
    # module paths are kept: the attention sits where it sat in the user's model
    names = dict(rewritten.named_modules())
    assert any(n.endswith(".attn.to_query") for n in names)


def test_rewrite_does_not_touch_the_loaded_model():
    m = load_model("swiftformer-test")
    before = type(m.module.network[0][0].attn)
    export_form(m)
    assert type(m.module.network[0][0].attn) is before


@pytest.mark.parametrize("variant", ["xs", "s", "l1", "l3"])
def test_every_variant_partitions_into_one_xnnpack_subgraph(variant):
    """Partitioning (not the slow preprocess): one subgraph and no compute left on portable kernels."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig
    from executorch.exir.program._program import _gen_edge_manager_for_partitioners

    m = load_model(f"swiftformer-{variant}")
    module, _ = export_form(m)
    ep = torch.export.export(module, (torch.zeros(1, 3, 64, 64),), strict=False)
    partitioner = XnnpackPartitioner()
    # The same edge program to_edge_transform_and_lower partitions (ops the partitioner keeps undecomposed).
    edge = _gen_edge_manager_for_partitioners({"forward": [partitioner]}, {"forward": ep}, EdgeCompileConfig(), None)
    result = partitioner.partition(edge.exported_program())
    tags = {n.meta.get("delegation_tag") for n in result.tagged_exported_program.graph.nodes if n.op == "call_function"}
    untagged = [n.name for n in result.tagged_exported_program.graph.nodes
                if n.op == "call_function" and n.meta.get("delegation_tag") is None]
    assert untagged == []
    assert len(tags) == 1


@pytest.mark.parametrize("model_id", ["swiftformer-test-normalize", "swiftformer-test-softmax"])
def test_folding_is_exact_with_non_trivial_scales_and_batch_norms(model_id):
    """Layer scales and the MLP BatchNorm are folded into weights: random init leaves them at 1 / identity,
    so perturb every scale and BatchNorm statistic (a scale folded twice or not at all would show)."""
    from torch import nn

    m = load_model(model_id, options={"layer_scale_init_value": 1.0})
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in m.module.named_parameters():
            if "layer_scale" in name:
                p.copy_(torch.rand(p.shape, generator=g) * 1.5 + 0.25)
        for mod in m.module.modules():
            if isinstance(mod, nn.BatchNorm2d):
                n = mod.num_features
                mod.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(n, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(n, generator=g) * 0.2)
    before = {k: v.clone() for k, v in m.module.state_dict().items()}
    s = m.preprocessing.image_size
    x = torch.randn(2, 3, s, s, generator=g) * 2
    rewritten, applied = export_form(m)
    with torch.no_grad():
        ref, got = m.logits(x), rewritten(x)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max() + 1e-7
    # the folds happened on the copy: the user's model is bit-identical
    assert all(torch.equal(before[k], v) for k, v in m.module.state_dict().items())
    names = [n for n, _ in rewritten.named_parameters()]
    assert not [n for n in names if "layer_scale" in n], "layer scales must be folded away"
    assert not [n for n, mod in rewritten.named_modules() if n.endswith("linear.norm1")]
