"""The export form of a transformers image classifier (the `transformers` family).

Applied to the deep copy export owns; submodule names are kept so profiles name the user's modules:
- forward returns the logits tensor (the model's class is swapped for a subclass; no wrapper prefix);
- LayerNorm's two means as matmuls, GroupNorm's as means, whole-input average pools as means
  (edge_export.models.export_form.shared_forms);
- per-architecture module forms where no graph-level pass can help (`forms/`, one file per architecture);
- attention runs transformers' eager path (matmul, softmax, matmul) instead of SDPA, whose decomposition
  leaves masking ops (logical_not, eq, any, where, full_like) outside the XNNPACK partition.
"""

from __future__ import annotations

from torch import nn

from edge_export.models.export_form import shared_forms
from edge_export.models.hf_source.forms import apply_forms
from edge_export.models.family import ModelFamily, derived_class, register_family

class ReturnsLogits:
    def forward(self, pixel_values):
        return super().forward(pixel_values, return_dict=True).logits


def logits_form(module: nn.Module) -> nn.Module:
    module.__class__ = derived_class((ReturnsLogits, type(module)), like=type(module))
    return module


def eager_attention(module: nn.Module) -> bool:
    config = getattr(module, "config", None)
    if config is None or getattr(config, "_attn_implementation", "eager") == "eager":
        return False
    config._attn_implementation = "eager"
    for sub in module.modules():  # sub-configs (vision towers) carry their own copy
        sub_config = getattr(sub, "config", None)
        if sub_config is not None and hasattr(sub_config, "_attn_implementation"):
            sub_config._attn_implementation = "eager"
    return True


@register_family
class TransformersFamily(ModelFamily):
    name = "transformers"

    def image_size_rule(self, loaded):
        # patch embeddings take whole patches; the hierarchical CNNs and hybrids downsample by 32
        patch = getattr(getattr(loaded.module, "config", None), "patch_size", None)
        patch = patch[0] if isinstance(patch, (list, tuple)) else patch
        return (patch, patch) if isinstance(patch, int) and patch > 1 else (32, 1)

    def rewrite(self, module, loaded):
        rewrites = []
        if eager_attention(module):
            rewrites.append("attention: transformers' eager path instead of SDPA")
        rewrites += apply_forms(module)
        rewrites += shared_forms(module)
        logits_form(module)
        rewrites.append("forward returns the logits tensor")
        return module, rewrites
