"""The export form: the module a target exports, numerically equivalent to the loaded model.

`export_form(loaded)` asks the model's family (edge_export.models.family) for it; what every module
gets by default - the generic export form - is here, with the export-friendly building blocks families
share. Rewrites are applied to a deep copy with submodule names kept, so profiles name the user's modules.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_export.models.family import ModelFamily, copy_for_export, get_family, register_family
from edge_export.models.loaded import LoadedModel, LogitsOnly

EPS = 1e-12  # F.normalize's default


class L2NormalizeLastDim(nn.Module):
    """F.normalize(v, dim=-1) with the reduction as a matmul against a ones vector (every backend delegates
    a matmul; F.normalize's pow/sum/pow lands on portable kernels)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("ones", torch.ones(dim, 1), persistent=False)

    def forward(self, v):
        sq = (v * v) @ self.ones
        return v * torch.rsqrt(torch.clamp_min(sq, EPS * EPS))


def generic_export_form(module: nn.Module, loaded: LoadedModel) -> tuple[nn.Module, list[str]]:
    """Any classifier: the module itself when it returns a tensor, else wrapped to return its logits."""
    with torch.no_grad():
        out = module(torch.zeros(loaded.input_shape()))
    return (module if isinstance(out, torch.Tensor) else LogitsOnly(module).eval()), []


@register_family
class GenericFamily(ModelFamily):
    """Any nn.Module (module:, timm:): the generic export form, nothing kept float."""

    name = "generic"


def export_form(loaded: LoadedModel) -> tuple[nn.Module, list[str]]:
    """(a deep-copied, eval-mode module returning a logits tensor, names of the rewrites applied)."""
    module, rewrites = get_family(loaded.family).rewrite(copy_for_export(loaded.module), loaded)
    return module.eval(), rewrites


def float_module_types(loaded: LoadedModel) -> list[type]:
    """Module types of the export form that int8 recipes keep in float (the family decides)."""
    return get_family(loaded.family).float_module_types(loaded)
