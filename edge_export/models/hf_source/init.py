"""Seeded random init that gives a classifier worth comparing against.

transformers' own init (`_init_weights`: normal(0, initializer_range=0.02) weights, and in several
families BatchNorm weights drawn the same way) makes deep convolutional models collapse: MobileNetV2's
logits come out ~1e-22, MobileViT-v2's and EfficientNet's exactly 0 (docs/measurements.md). A reference
that gives the same logits for every image proves nothing about an export.

The rule, applied the same way to every family, after transformers' init and under the request's seed:
1. every Conv/Linear weight ~ N(0, 1/fan_in) (variance-preserving), biases 0; a depthwise convolution's
   k-tap filter is a box filter plus noise, 1/k + N(0, 1/(4k)): zero-mean random depthwise filters are
   high-pass, so on photographs their output is mostly cancellation that the next BatchNorm scales back up,
   noise and all, block after block, and int8 rounding noise grows into the logits; trained depthwise
   filters keep a smoothing (DC) part (its effect on int8 parity: docs/measurements.md);
2. every BatchNorm/LayerNorm/GroupNorm affine reset to identity (weight 1, bias 0);
3. learned tokens and absolute position embeddings (cls, distillation, mask and register tokens,
   `position_embeddings`) ~ N(0, 1), the scale of the patch embeddings they join: transformers draws them at
   0.02, and beside unit-scale patch tokens a CLS token 50x smaller is rounded away by the one int8 scale of
   the sequence, though the classifier reads it (trained tokens are not that small; docs/measurements.md);
4. every BatchNorm's running statistics measured on two seeded batches of N(0, 1) images, so that in
   eval mode each normalises what actually reaches it.
Other parameters (layer scales, attention biases) keep transformers' values.
"""

from __future__ import annotations

import math

import torch
from torch import nn

RULE = ("random init: conv/linear weights N(0, 1/fan_in), depthwise filters 1/k + N(0, 1/(4k)), norm layers "
        "identity, tokens and position embeddings N(0, 1), BatchNorm statistics from 2 seeded batches of noise images "
        "(edge_export.models.hf_source.init)")
# parameters (by attribute name) holding learned tokens or absolute position embeddings
TOKEN_PARAMETERS = ("cls_token", "distillation_token", "mask_token", "register_tokens", "position_embeddings")
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


@torch.no_grad()
def meaningful_init(model: nn.Module, seed: int, image_size: int, batches: int = 2, batch: int = 4) -> None:
    gen = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        weight = getattr(mod, "weight", None)
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)) and weight is not None:
            taps = weight[0].numel()
            weight.copy_(torch.randn(weight.shape, generator=gen) / math.sqrt(taps))
            if isinstance(mod, nn.Conv2d) and mod.groups > 1 and mod.groups == mod.in_channels and taps > 1:
                weight.mul_(0.5).add_(1.0 / taps)
            if mod.bias is not None:
                mod.bias.zero_()
        elif isinstance(mod, _NORMS) and weight is not None:
            weight.fill_(1.0)
            if mod.bias is not None:
                mod.bias.zero_()
    for name, param in model.named_parameters():
        if name.rsplit(".", 1)[-1] in TOKEN_PARAMETERS:
            param.copy_(torch.randn(param.shape, generator=gen))
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    was_training = model.training
    model.eval()
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a plain average over the batches seen
        bn.train()
    for _ in range(batches):
        model(torch.randn(batch, 3, image_size, image_size, generator=gen))
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
        bn.eval()
    model.train(was_training)
