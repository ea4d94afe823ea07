"""The export form: the module a target exports, numerically equivalent to the loaded model.

`export_form(loaded)` asks the model's family (edge_export.models.family) for it; what every module
gets by default - the generic export form - is here, with the export-friendly building blocks families
share. Rewrites are applied to a deep copy with submodule names kept, so profiles name the user's modules.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_export.models.family import ModelFamily, copy_for_export, derived_class, get_family, register_family
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


class KeptFloat:
    """Marks a normalisation form that int8 recipes keep float: a variance through int8 arithmetic loses the
    model (DeiT cosine -0.49 with its LayerNorm quantized; docs/measurements.md), a float norm costs little."""


def kept_float_types(module: nn.Module) -> list[type]:
    """The KeptFloat classes present in an export form, in module order."""
    return list(dict.fromkeys(type(m) for m in module.modules() if isinstance(m, KeptFloat)))


class MatmulLayerNorm(KeptFloat, nn.LayerNorm):
    """LayerNorm over the last axis with its two means as matmuls against a 1/C vector: XNNPACK has no
    layer-norm operator (native_layer_norm stays on portable kernels), but takes matmul, sub, mul, rsqrt.
    Same parameters and state_dict."""

    def forward(self, x):
        if len(self.normalized_shape) != 1 or not hasattr(self, "mean_weights"):
            return super().forward(x)
        mean = x @ self.mean_weights
        centred = x - mean
        y = centred * torch.rsqrt((centred * centred) @ self.mean_weights + self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y


def layer_norms_as_matmul(module: nn.Module) -> int:
    """Every 1-D nn.LayerNorm (and subclass: its own forward still runs, its LayerNorm step becomes
    MatmulLayerNorm's) computed as matmuls; the count changed."""
    count = 0
    for sub in module.modules():
        cls = type(sub)
        if not isinstance(sub, nn.LayerNorm) or isinstance(sub, MatmulLayerNorm) or len(sub.normalized_shape) != 1:
            continue
        sub.__class__ = MatmulLayerNorm if cls is nn.LayerNorm else derived_class((cls, MatmulLayerNorm), like=cls)
        c = sub.normalized_shape[0]
        ref = sub.weight if sub.weight is not None else torch.empty(0)
        # a plain tensor attribute (export lifts it as a constant): not in the state_dict, and unlike a
        # non-persistent buffer it survives ExportedProgram.run_decompositions + module()
        sub.mean_weights = torch.full((c, 1), 1.0 / c, dtype=ref.dtype)
        count += 1
    return count


class MeanGroupNorm(KeptFloat, nn.GroupNorm):
    """GroupNorm with its statistics as plain means over each group (MobileViT-v2's GroupNorm(1, C)):
    native_group_norm has no XNNPACK operator, a mean does (decompositions.py makes it a pool). Same
    parameters and state_dict."""

    def forward(self, x):
        b, g = x.shape[0], self.num_groups
        grouped = x.reshape(b, g, -1)
        centred = grouped - grouped.mean(-1, keepdim=True)
        y = (centred * torch.rsqrt((centred * centred).mean(-1, keepdim=True) + self.eps)).reshape(x.shape)
        if not self.affine:
            return y
        shape = [1, self.num_channels] + [1] * (x.dim() - 2)
        return y * self.weight.reshape(shape) + self.bias.reshape(shape)


def swap_exact_class(module: nn.Module, plain: type, form: type) -> int:
    """Every submodule whose class is exactly `plain` (not a subclass: its own forward is the user's) given the
    same-state class `form`; the count changed."""
    count = 0
    for sub in module.modules():
        if type(sub) is plain:
            sub.__class__ = form
            count += 1
    return count


def group_norms_as_means(module: nn.Module) -> int:
    """Every plain nn.GroupNorm computed as MeanGroupNorm; the count changed."""
    return swap_exact_class(module, nn.GroupNorm, MeanGroupNorm)


def norm_forms(module: nn.Module) -> list[str]:
    """The normalisation rewrites every family gets: LayerNorm as matmul means, GroupNorm as means."""
    rewrites = []
    if n := layer_norms_as_matmul(module):
        rewrites.append(f"{n} LayerNorm as matmul means")
    if n := group_norms_as_means(module):
        rewrites.append(f"{n} GroupNorm as means")
    return rewrites


class WholeInputAvgPool2d(nn.AvgPool2d):
    """An AvgPool2d whose one window covers its whole input (transformers' EfficientNet pools a 7x7 map with
    AvgPool2d(1280, ceil_mode=True)) as a mean over H and W: the same numbers (PyTorch divides a window clipped
    at the border by the part inside), where LiteRT runs the literal form as a pad + a 1280x1280 pool (2 s a
    run for EfficientNet-B0, 99 % of its time). Any other input runs AvgPool2d's own forward."""

    def forward(self, x):
        h, w = x.shape[-2:]
        k, s, p = (nn.modules.utils._pair(v) for v in (self.kernel_size, self.stride, self.padding))
        one_window = all(kk >= n and (self.ceil_mode or kk == n) and (n - kk + ss - 1 if self.ceil_mode else n - kk) // ss == 0
                         for kk, ss, n in zip(k, s, (h, w)))
        if p != (0, 0) or self.divisor_override is not None or not one_window:
            return super().forward(x)
        return x.mean(dim=(-2, -1), keepdim=True)


def whole_input_pools_as_means(module: nn.Module) -> int:
    """Every plain nn.AvgPool2d as WholeInputAvgPool2d (a mean when its window covers the input); the count."""
    return swap_exact_class(module, nn.AvgPool2d, WholeInputAvgPool2d)


def shared_forms(module: nn.Module) -> list[str]:
    """The rewrites every family gets: the norm forms, and average pools over the whole input as means."""
    rewrites = norm_forms(module)
    if n := whole_input_pools_as_means(module):
        rewrites.append(f"{n} AvgPool2d as a mean where its window covers the input")
    return rewrites


def generic_export_form(module: nn.Module, loaded: LoadedModel) -> tuple[nn.Module, list[str]]:
    """Any classifier: the shared forms (LayerNorms as matmuls, ...), and the module itself when it returns a
    tensor, else wrapped to return its logits."""
    rewrites = shared_forms(module)
    with torch.no_grad():
        out = module(torch.zeros(loaded.input_shape()))
    return (module if isinstance(out, torch.Tensor) else LogitsOnly(module).eval()), rewrites


@register_family
class GenericFamily(ModelFamily):
    """Any nn.Module (module:, timm:): the generic export form; its norm layers stay float in int8."""

    name = "generic"


def export_form(loaded: LoadedModel) -> tuple[nn.Module, list[str]]:
    """(a deep-copied, eval-mode module returning a logits tensor, names of the rewrites applied)."""
    module, rewrites = get_family(loaded.family).rewrite(copy_for_export(loaded.module), loaded)
    return module.eval(), rewrites


def float_module_types(loaded: LoadedModel, module: nn.Module) -> list[type]:
    """Module types of `module` (the export form of `loaded`) that int8 recipes keep in float (the family decides)."""
    return get_family(loaded.family).float_module_types(loaded, module)
