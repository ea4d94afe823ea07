"""SwiftFormer's export form: numerically equivalent rewrites of both implementations (original, transformers).

Why: the stock SwiftFormer graph lowers to 14 XNNPACK subgraphs with ~100 nodes on portable kernels
(F.normalize -> pow/sum/pow, torch.sum over tokens, unsqueeze().repeat(), flatten(2).mean(-1)), and a
fragmented graph is slower than eager on 2 cores. The forms below compute the same function up to float
rounding with ops every backend delegates. They are applied to a deep copy; the loaded model is untouched.
Submodule names are kept, so module paths in profiles match the user's model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge_export.models.export_form import EPS as _EPS
from edge_export.models.export_form import L2NormalizeLastDim
from edge_export.models.family import ModelFamily, register_family
from edge_export.models.loaded import LoadedModel
from edge_export.models.swiftformer.checkpoints import hf_to_original_module

REWRITE_NORMALIZE = "l2-normalize as v * rsqrt(clamp_min((v*v) @ ones, eps^2))"
REWRITE_TOKEN_SUM = "attention token sum as bmm(A^T, q); broadcast instead of repeat"
REWRITE_HEAD_POOL = "head pool as avg_pool2d over the whole map; the final BatchNorm folded into head and dist_head"
REWRITE_FOLD_SCALES = "layer scales folded into the 1x1 conv / linear before them; MLP BatchNorm folded into fc1"
# Why fold every BatchNorm that has no conv before it (XNNPACK/PT2E fuse conv->BN themselves): a graph left with
# any batch_norm makes torchao's convert_pt2e run its QAT conv-BN folding, which torch.exports 96 pattern graphs
# on a PTQ model that has nothing to fold (docs/measurements.md "Export form").


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

    def static_int8_linears(self) -> list[str]:
        """Children an int8 recipe may quantize statically while this module stays float. Not to_query: its
        output drives the token scores (query @ w_g, normalized over tokens), and a per-tensor int8 query
        moves them; to_key, the projection and final cost nothing measurable (docs/measurements.md)."""
        return ["to_key", self.proj_name, "final"]

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


def _global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C] as avg_pool2d over the whole map, not mean(): XNNPACKQuantizer gives mean() its
    input's quantization parameters (pooled features quantized on the activation map's wider range) but leaves
    avg_pool2d float, so the head gets its own, finer input scale (docs/measurements.md "Export form")."""
    return F.avg_pool2d(x, kernel_size=(int(x.shape[-2]), int(x.shape[-1]))).flatten(1)


class OriginalExportForm(nn.Module):
    """SwiftFormerOriginal with the head pool rewritten; same submodule names."""

    def __init__(self, src: nn.Module):
        super().__init__()
        self.patch_embed, self.network = src.patch_embed, src.network
        _heads_with_norm_folded(self, src.norm, src.head, src.dist_head)

    def forward(self, x):
        x = self.patch_embed(x)
        for stage in self.network:
            x = stage(x)
        if self.norm is not None:
            x = self.norm(x)
        pooled = _global_avg_pool(x)
        return (self.head(pooled) + self.dist_head(pooled)) * 0.5


class HFExportForm(nn.Module):
    """transformers' SwiftFormerForImageClassification returning logits, head pool rewritten; same names."""

    def __init__(self, src: nn.Module):
        super().__init__()
        self.swiftformer = src.swiftformer
        _heads_with_norm_folded(self, src.norm, src.head, src.dist_head)

    def forward(self, x):
        x = self.swiftformer.patch_embed(x)
        for stage in self.swiftformer.encoder.network:
            x = stage(x)
        if self.norm is not None:
            x = self.norm(x)
        pooled = _global_avg_pool(x)
        return (self.head(pooled) + self.dist_head(pooled)) * 0.5


@torch.no_grad()
def _scale_outputs_(layer: nn.Module, scale: torch.Tensor) -> None:
    """In place (on the export copy): layer(x) * scale for a Linear or 1x1 Conv2d, scale per output channel."""
    s = scale.detach().reshape(-1).to(layer.weight.dtype)
    layer.weight.mul_(s.reshape(-1, *([1] * (layer.weight.dim() - 1))))
    if layer.bias is not None:
        layer.bias.mul_(s)


@torch.no_grad()
def _fold_bn_into_next_1x1_(bn: nn.BatchNorm2d, conv: nn.Conv2d) -> None:
    """In place: conv(bn(x)) == conv'(x) for an eval-mode BatchNorm followed by a 1x1 conv (no padding)."""
    a = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    c = bn.bias - bn.running_mean * a
    w = conv.weight  # [O, I, 1, 1]
    extra = (w[:, :, 0, 0] * c).sum(1)
    if conv.bias is None:
        conv.bias = nn.Parameter(extra)
    else:
        conv.bias.add_(extra)
    w.mul_(a.reshape(1, -1, 1, 1))


@torch.no_grad()
def _fold_bn_into_linear_(bn: nn.BatchNorm2d, linear: nn.Linear) -> None:
    """In place: linear(bn(x) pooled) == linear'(x pooled); per-channel affine commutes with the spatial mean."""
    a = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    c = bn.bias - bn.running_mean * a
    if linear.bias is None:
        linear.bias = nn.Parameter(linear.weight @ c)
    else:
        linear.bias.add_(linear.weight @ c)
    linear.weight.mul_(a.reshape(1, -1))


def _heads_with_norm_folded(owner: nn.Module, norm: nn.BatchNorm2d, head: nn.Module, dist_head: nn.Module) -> None:
    """Set owner.head/dist_head with the final BatchNorm folded in; heads that are not Linear (num_labels=0)
    keep the BatchNorm as owner.norm, applied before the pool."""
    owner.head, owner.dist_head = head, dist_head
    if isinstance(head, nn.Linear) and isinstance(dist_head, nn.Linear):
        _fold_bn_into_linear_(norm, head)
        _fold_bn_into_linear_(norm, dist_head)
        owner.norm = None
    else:
        owner.norm = norm


class ExportResidualConvs(nn.Module):
    """x + chain(x): the conv encoder / local representation with its layer scale folded into the last conv.

    The stock `x + layer_scale * y` multiplies by a [C, 1, 1] parameter: ExecuTorch's XNNPACK lowering
    runs that mul in NCHW, i.e. transpose + mul + transpose around every residual (66 transposes in XS).
    """

    def __init__(self, src: nn.Module, names: tuple[str, ...], layer_scale: torch.Tensor | None):
        super().__init__()
        self._names = names
        for n in names:
            setattr(self, n, getattr(src, n))
        if layer_scale is not None:
            _scale_outputs_(getattr(self, names[-1]), layer_scale)

    def forward(self, x):
        y = x
        for n in self._names:
            y = getattr(self, n)(y)
        return x + y


class ExportMlp(nn.Module):
    """SwiftFormer's MLP (BatchNorm -> fc1 -> GELU -> fc2) with the BatchNorm folded into fc1 and the block's
    layer scale into fc2; children fc1/act/fc2 keep their names (norm1 is gone: folded)."""

    def __init__(self, src: nn.Module, layer_scale: torch.Tensor | None):
        super().__init__()
        self.fc1, self.act, self.fc2 = src.fc1, src.act, src.fc2
        _fold_bn_into_next_1x1_(src.norm1, self.fc1)
        if layer_scale is not None:
            _scale_outputs_(self.fc2, layer_scale)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class ExportEncoderBlock(nn.Module):
    """SwiftFormer's last block of a stage: local representation, additive attention, MLP; layer scales
    folded into local_representation's last conv, attn.final and linear.fc2."""

    def __init__(self, src: nn.Module, local_names: tuple[str, ...], form: str, proj_name: str,
                 use_layer_scale: bool = True):
        super().__init__()
        local = src.local_representation
        self.local_representation = ExportResidualConvs(local, local_names, local.layer_scale)
        self.attn = ExportAdditiveAttention(src.attn, form, proj_name)
        if use_layer_scale:
            _scale_outputs_(self.attn.final, src.layer_scale_1)
        self.linear = ExportMlp(src.linear, src.layer_scale_2 if use_layer_scale else None)

    def forward(self, x):
        x = self.local_representation(x)
        b, c, h, w = x.shape
        tokens = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        x = x + self.attn(tokens).reshape(b, h, w, c).permute(0, 3, 1, 2)
        return x + self.linear(x)


_ORIGINAL_CONV_NAMES = ("dwconv", "norm", "pwconv1", "act", "pwconv2")
_HF_CONV_NAMES = ("depth_wise_conv", "norm", "point_wise_conv1", "act", "point_wise_conv2")


def _replace_children(parent: nn.Module, make) -> int:
    """Replace every submodule m for which make(m) returns a module, outermost first, without descending into
    what was replaced (its parts are already rewritten: folding twice would scale twice). Returns the count."""
    replaced = 0
    for attr, child in list(parent.named_children()):
        new = make(child)
        if new is not None:
            setattr(parent, attr, new)
            replaced += 1
        else:
            replaced += _replace_children(child, make)
    return replaced


def _rewrite_original(module: nn.Module) -> None:
    from edge_export.models.swiftformer.original import ConvEncoder, SwiftFormerEncoder

    form = module.attention_form

    def make(m):
        if isinstance(m, SwiftFormerEncoder):
            return ExportEncoderBlock(m, _ORIGINAL_CONV_NAMES, form, "Proj")
        if isinstance(m, ConvEncoder):
            return ExportResidualConvs(m, _ORIGINAL_CONV_NAMES, m.layer_scale)
        return None

    _replace_children(module, make)


def _rewrite_hf(module: nn.Module) -> None:
    from transformers.models.swiftformer.modeling_swiftformer import SwiftFormerConvEncoder, SwiftFormerEncoderBlock

    def make(m):
        if isinstance(m, SwiftFormerEncoderBlock):
            return ExportEncoderBlock(m, _HF_CONV_NAMES, "softmax", "proj", use_layer_scale=m.use_layer_scale)
        if isinstance(m, SwiftFormerConvEncoder):
            return ExportResidualConvs(m, _HF_CONV_NAMES, m.layer_scale)
        return None

    _replace_children(module, make)


_REWRITES = [REWRITE_NORMALIZE, REWRITE_TOKEN_SUM, REWRITE_HEAD_POOL, REWRITE_FOLD_SCALES]


@register_family
class SwiftFormerOriginalFamily(ModelFamily):
    """The original repository's SwiftFormer (edge_export.models.swiftformer.original), either attention form."""

    name = "swiftformer-original"

    def rewrite(self, module: nn.Module, loaded: LoadedModel) -> tuple[nn.Module, list[str]]:
        _rewrite_original(module)
        return OriginalExportForm(module), list(_REWRITES)

    def image_size_rule(self, loaded: LoadedModel) -> tuple[int, int]:
        # a stride-4 stem and three stride-2 downsamplings: below 32 px the last stage has no pixel left,
        # and other sides crop the feature maps unevenly
        return 32, 32

    def float_module_types(self, loaded: LoadedModel, module: nn.Module) -> list[type]:
        return [ExportAdditiveAttention]  # its normalize/rsqrt chain quantizes badly (README "Tolerances")


@register_family
class SwiftFormerHfFamily(SwiftFormerOriginalFamily):
    """transformers' SwiftFormerForImageClassification (softmax form); TFSwiftFormer is its TensorFlow twin."""

    name = "swiftformer-hf"
    tensorflow_twin = True
    # profiles name its modules as the original's (network.2.5.attn.Proj, not swiftformer.encoder.network.2.blocks.5
    # .attn.proj): one name per module across attention forms, sources and backends
    module_names = SwiftFormerOriginalFamily.name

    def canonical_module_path(self, path: str) -> str:
        return hf_to_original_module(path)

    def rewrite(self, module: nn.Module, loaded: LoadedModel) -> tuple[nn.Module, list[str]]:
        _rewrite_hf(module)
        return HFExportForm(module), list(_REWRITES)
