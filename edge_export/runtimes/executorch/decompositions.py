"""ATen decompositions applied before XNNPACK partitioning, so that ops XNNPACK has no operator for become
ops it has (numerically the same function; every model benefits, not one family):

- `matmul` of same-batch N-D tensors -> `bmm` on views (torch's own decomposition broadcasts with
  `expand`, which stays outside the delegate even when it expands nothing), N-D @ 2-D -> `mm`;
- `select.int` -> `slice` + `view` on tensors that are not 4-D (XNNPACK has static slice, no select; ViT's
  class token);
- `mean` -> `avg_pool2d` over H, W of a 4-D tensor (ConvNeXt's pooler), any other mean as a pool over the
  reduced axes moved last (DINOv2's, LeViT's token means); a pool wider than its input -> the global mean;
- `sum` -> that mean times the count (MobileViT-v2's context vector);
- `split_with_sizes` -> `slice`s (LeViT's q/k/v split; not on 4-D tensors, see there); a slice with step s over an axis s divides ->
  step-1 slice of the axis grouped by s (LeViT's subsampling);
- `expand` to the shape it already has -> `view`;
- `roll` -> two slices concatenated per axis (Swin's cyclic shift); an adaptive 1-D pool to one position ->
  the mean (Swin's pooler);
- `softmax` over the last axis of a 4-D tensor -> over a 3-D view: ExecuTorch 1.5.1's XNNPACK lowering runs
  a convolution's 4-D output channels-last and then takes the softmax over the channels instead
  (MobileViT-v2's attention over patches; docs/measurements.md). Over the height it was right; it takes the
  3-D view too, so no 4-D softmax depends on how the layout pass treats it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

aten = torch.ops.aten


def _matmul(a, b):
    if a.dim() >= 3 and a.dim() == b.dim() and a.shape[:-2] == b.shape[:-2]:
        batch = list(a.shape[:-2])
        n = math.prod(batch)
        y = aten.bmm.default(a.reshape(n, a.shape[-2], a.shape[-1]), b.reshape(n, b.shape[-2], b.shape[-1]))
        return y.view(batch + [a.shape[-2], b.shape[-1]])
    if a.dim() >= 2 and b.dim() == 2:
        lead = list(a.shape[:-1])
        return aten.mm.default(a.reshape(math.prod(lead), a.shape[-1]), b).view(lead + [b.shape[-1]])
    return NotImplemented  # torch's own decomposition


def _select(x, dim, index):
    if x.dim() == 4:
        return NotImplemented  # see _split_with_sizes
    dim = dim % x.dim()
    index = index % x.shape[dim]
    shape = [s for i, s in enumerate(x.shape) if i != dim]
    return aten.slice.Tensor(x, dim, index, index + 1).view(shape)


def _mean(x, dims, keepdim=False, dtype=None):
    if dtype is not None or not dims:
        return NotImplemented
    reduced = sorted({d % x.dim() for d in dims})
    kept = [d for d in range(x.dim()) if d not in reduced]
    out_shape = [1 if d in reduced else x.shape[d] for d in range(x.dim())] if keepdim else [x.shape[d] for d in kept]
    if x.dim() == 4 and reduced == [2, 3]:
        return F.avg_pool2d(x, kernel_size=(x.shape[2], x.shape[3])).view(out_shape)
    # any other mean: reduced axes last, as one (1, kept, reduced, 1) image pooled over its height
    kept_n = math.prod(x.shape[d] for d in kept)
    red_n = math.prod(x.shape[d] for d in reduced)
    moved = x.permute(kept + reduced) if kept + reduced != list(range(x.dim())) else x
    pooled = F.avg_pool2d(moved.reshape(1, kept_n, red_n, 1), kernel_size=(red_n, 1))
    return pooled.view(out_shape)


def _sum(x, dims, keepdim=False, dtype=None):
    if dtype is not None or not dims or not x.is_floating_point():
        return NotImplemented
    count = float(math.prod(x.shape[d] for d in dims))  # a float: an int scalar becomes a cast outside the delegate
    return _mean(x, dims, keepdim) * count


def _avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """A pool whose window covers the whole (unpadded) input - EfficientNet's AvgPool2d(1280, ceil_mode=True) -
    is the global mean, which XNNPACK takes as a pool with the input's own size."""
    k = [kernel_size] * 2 if isinstance(kernel_size, int) else list(kernel_size)
    k = k * 2 if len(k) == 1 else k
    pad = [padding] * 2 if isinstance(padding, int) else list(padding)
    h, w = x.shape[-2], x.shape[-1]
    if divisor_override is None and not any(pad) and k[0] >= h and k[1] >= w and (k[0], k[1]) != (h, w):
        return _mean(x, [-2, -1], True)
    return NotImplemented


def _strided_slice(x, dim=0, start=None, end=None, step=1):
    """x[k::s] along an axis whose size s divides, k < s (LeViT's subsampling, Swin's patch merging): the axis
    as (n/s, s), element k of each group - a slice with step 1, which XNNPACK takes, and a view."""
    dim = dim % x.dim()
    n = x.shape[dim]
    start = start or 0
    if step == 1 or not 0 <= start < step or (end is not None and end < n) or n % step:
        return NotImplemented
    grouped = x.reshape(list(x.shape[:dim]) + [n // step, step] + list(x.shape[dim + 1:]))
    first = aten.slice.Tensor(grouped, dim + 1, start, start + 1)
    return first.view(list(x.shape[:dim]) + [n // step] + list(x.shape[dim + 1:]))


def _split_with_sizes(x, sizes, dim=0):
    """Slices (XNNPACK's static slice) instead of split_with_sizes, which it does not take. Not for 4-D
    tensors: ExecuTorch 1.5.1's XNNPACK lowering runs them channels-last, and a slice over their channels
    came out wrong (MobileViT-v2's q/k/v split: cosine -0.94; docs/measurements.md)."""
    if x.dim() == 4:
        return NotImplemented
    out, start = [], 0
    for n in sizes:
        out.append(aten.slice.Tensor(x, dim, start, start + n))
        start += n
    return out


def _softmax(x, dim, dtype_or_half_to_float=None):
    dim = dim % x.dim()
    if x.dim() != 4 or dim < 2 or dtype_or_half_to_float not in (None, False):
        return NotImplemented
    b, c, h, w = x.shape
    return aten._softmax.default(x.reshape(b * c, h, w), dim - 1, False).view(b, c, h, w)


def _roll(x, shifts, dims=()):
    """A cyclic shift as the concatenation of two slices per axis (Swin's shifted windows); the default
    decomposition gathers with arange/fmod indices, which XNNPACK does not take."""
    if isinstance(shifts, int):
        shifts = [shifts]
    if len(shifts) != len(dims) or not dims:
        return NotImplemented
    out = x
    for shift, dim in zip(shifts, dims):
        n = x.shape[dim]
        k = shift % n
        if k:
            out = torch.cat([aten.slice.Tensor(out, dim, n - k, n), aten.slice.Tensor(out, dim, 0, n - k)], dim)
    return out if out is not x else aten.clone.default(x)


def _adaptive_avg_pool1d(x, output_size):
    """A pool to one position is the mean over the last axis (Swin's pooler), which the mean above takes."""
    if list(output_size) != [1]:
        return NotImplemented
    return _mean(x, [-1], keepdim=True)


def _expand(x, size, implicit=False):
    lead = len(size) - x.dim()
    size = [x.shape[i - lead] if s == -1 else s for i, s in enumerate(size)]
    if list(size) == list(x.shape):
        return x.view(size)
    return aten.expand_copy.default(x, size)


TABLE = {
    aten.matmul.default: _matmul,
    aten.select.int: _select,
    aten.mean.dim: _mean,
    aten.sum.dim_IntList: _sum,
    aten.avg_pool2d.default: _avg_pool2d,
    aten.split_with_sizes.default: _split_with_sizes,
    aten.slice.Tensor: _strided_slice,
    aten.expand.default: _expand,
    aten.roll.default: _roll,
    aten.adaptive_avg_pool1d.default: _adaptive_avg_pool1d,
    aten._softmax.default: _softmax,
    aten.softmax.int: _softmax,
}


def delegable(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """`program` with the decompositions above (module paths and debug metadata kept)."""
    return program.run_decompositions(TABLE)
