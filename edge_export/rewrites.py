"""Export-friendly, numerically equivalent forms of known models - the one place such rewrites live.

Why: the stock SwiftFormer graph lowers to 14 XNNPACK subgraphs with ~100 nodes on portable kernels
(F.normalize -> pow/sum/pow, torch.sum over tokens, unsqueeze().repeat(), flatten(2).mean(-1)), and a
fragmented graph is slower than eager on 2 cores. The forms below compute the same function up to float
rounding with ops every backend delegates. They are applied to a deep copy; the loaded model is untouched.
Submodule names are kept, so module paths in profiles match the user's model.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from edge_export.models.loaded import LoadedModel, LogitsOnly, logits_of

_EPS = 1e-12  # F.normalize's default

REWRITE_NORMALIZE = "l2-normalize as v * rsqrt(clamp_min((v*v) @ ones, eps^2))"
REWRITE_TOKEN_SUM = "attention token sum as bmm(A^T, q); broadcast instead of repeat"
REWRITE_HEAD_POOL = "head pool as mean(dim=(2,3), keepdim=True)"


class L2NormalizeLastDim(nn.Module):
    """F.normalize(v, dim=-1) with the reduction as a matmul against a ones vector."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("ones", torch.ones(dim, 1), persistent=False)

    def forward(self, v):
        sq = (v * v) @ self.ones
        return v * torch.rsqrt(torch.clamp_min(sq, _EPS * _EPS))


class ExportAdditiveAttention(nn.Module):
    """SwiftFormer's efficient additive attention in either form, with delegable ops only. [B, N, D] -> [B, N, D]."""

    def __init__(self, src: nn.Module, form: str, proj_name: str):
        super().__init__()
        self.form = form
        self.proj_name = proj_name
        self.to_query, self.to_key, self.final = src.to_query, src.to_key, src.final
        setattr(self, proj_name, getattr(src, proj_name))
        self.w_g = src.w_g
        self.scale_factor = src.scale_factor
        self.l2norm = L2NormalizeLastDim(src.to_query.out_features)

    def forward(self, x):
        query = self.l2norm(self.to_query(x))
        key = self.l2norm(self.to_key(x))
        a = (query @ self.w_g) * self.scale_factor  # B x N x 1
        if self.form == "normalize":  # F.normalize(a, dim=1): norm over tokens
            a = a * torch.rsqrt(torch.clamp_min(torch.bmm(a.transpose(1, 2), a), _EPS * _EPS))
        else:  # softmax over a size-1 axis: kept literally, it is what the checkpoint computes
            a = a.softmax(dim=-1)
        g = torch.bmm(a.transpose(1, 2), query)  # B x 1 x D == sum over tokens of a * query
        return self.final(getattr(self, self.proj_name)(g * key) + query)


class OriginalExportForm(nn.Module):
    """SwiftFormerOriginal with the head pool rewritten; same submodule names."""

    def __init__(self, src: nn.Module):
        super().__init__()
        self.patch_embed, self.network, self.norm = src.patch_embed, src.network, src.norm
        self.head, self.dist_head = src.head, src.dist_head

    def forward(self, x):
        x = self.patch_embed(x)
        for stage in self.network:
            x = stage(x)
        pooled = self.norm(x).mean(dim=(2, 3), keepdim=True).flatten(1)
        return (self.head(pooled) + self.dist_head(pooled)) * 0.5


class HFExportForm(nn.Module):
    """transformers' SwiftFormerForImageClassification returning logits, head pool rewritten; same names."""

    def __init__(self, src: nn.Module):
        super().__init__()
        self.swiftformer, self.norm = src.swiftformer, src.norm
        self.head, self.dist_head = src.head, src.dist_head

    def forward(self, x):
        x = self.swiftformer.patch_embed(x)
        for stage in self.swiftformer.encoder.network:
            x = stage(x)
        pooled = self.norm(x).mean(dim=(2, 3), keepdim=True).flatten(1)
        return (self.head(pooled) + self.dist_head(pooled)) * 0.5


def _swap_attention(root: nn.Module, attn_type: type, form: str, proj_name: str) -> int:
    swapped = 0
    for name, child in list(root.named_modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, attn_type):
                setattr(child, attr, ExportAdditiveAttention(sub, form, proj_name))
                swapped += 1
    return swapped


def export_form(loaded: LoadedModel) -> tuple[nn.Module, list[str]]:
    """(a deep-copied, eval-mode module returning a logits tensor, names of the rewrites applied)."""
    module = copy.deepcopy(loaded.module).eval()
    if loaded.family == "swiftformer-original":
        from edge_export.models.swiftformer_original import EfficientAdditiveAttention

        _swap_attention(module, EfficientAdditiveAttention, module.attention_form, "Proj")
        return OriginalExportForm(module).eval(), [REWRITE_NORMALIZE, REWRITE_TOKEN_SUM, REWRITE_HEAD_POOL]
    if loaded.family == "swiftformer-hf":
        from transformers.models.swiftformer.modeling_swiftformer import SwiftFormerEfficientAdditiveAttention

        _swap_attention(module, SwiftFormerEfficientAdditiveAttention, "softmax", "proj")
        return HFExportForm(module).eval(), [REWRITE_NORMALIZE, REWRITE_TOKEN_SUM, REWRITE_HEAD_POOL]
    with torch.no_grad():
        out = module(torch.zeros(loaded.input_shape()))
    return (module if isinstance(out, torch.Tensor) else LogitsOnly(module).eval()), []


@torch.no_grad()
def max_rewrite_error(loaded: LoadedModel, x: torch.Tensor) -> float:
    """Largest |rewritten - original| over the logits for input x."""
    rewritten, _ = export_form(loaded)
    return float((rewritten(x) - logits_of(loaded.module(x))).abs().max())


def float_module_types(loaded: LoadedModel) -> list[type]:
    """Module types of the export form that int8 recipes keep in float (the additive attention)."""
    if loaded.family in ("swiftformer-original", "swiftformer-hf"):
        return [ExportAdditiveAttention]
    return []
