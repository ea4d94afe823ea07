"""SwiftFormer as the original repository (Amshaker/SwiftFormer, current code) defines it.

Parameter names follow the original checkpoints exactly (`patch_embed.0.weight`, `network.0.0.dwconv.weight`,
`network.0.2.attn.Proj.weight`, ...), so an original `.pth` loads with `strict=True` and no renaming.

`attention_form` selects the additive-attention function:
- "normalize": the current original code (commit 670dea3 onwards) and timm: A = F.normalize(q @ w_g * s, dim=1).
- "softmax": the initial release and the transformers port: softmax over a size-1 axis, i.e. A == 1.
They are different functions of the same weights; a checkpoint must be run in the form it was trained in.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from edge_export.models.swiftformer.spec import SwiftFormerSpec

AttentionForm = Literal["normalize", "softmax"]


def _stem(in_chs: int, out_chs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_chs, out_chs // 2, kernel_size=3, stride=2, padding=1),
        nn.BatchNorm2d(out_chs // 2),
        nn.ReLU(),
        nn.Conv2d(out_chs // 2, out_chs, kernel_size=3, stride=2, padding=1),
        nn.BatchNorm2d(out_chs),
        nn.ReLU(),
    )


class Embedding(nn.Module):
    """Downsampling between stages: conv3x3 stride 2 + BN."""

    def __init__(self, in_chans: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=3, stride=2, padding=1)
        self.norm = nn.BatchNorm2d(embed_dim)

    def forward(self, x):
        return self.norm(self.proj(x))


class ConvEncoder(nn.Module):
    """dwconv3x3 -> BN -> pwconv -> GELU -> pwconv, scaled residual. Also the block's local representation."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)
        self.norm = nn.BatchNorm2d(dim)
        self.pwconv1 = nn.Conv2d(dim, hidden_dim, kernel_size=1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2d(hidden_dim, dim, kernel_size=1)
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1))

    def forward(self, x):
        y = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x)))))
        return x + self.layer_scale * y


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.fc1 = nn.Conv2d(dim, hidden_dim, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden_dim, dim, 1)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(self.norm1(x))))


class EfficientAdditiveAttention(nn.Module):
    """Input and output [B, N, D]."""

    def __init__(self, dim: int, form: AttentionForm):
        super().__init__()
        self.form = form
        self.to_query = nn.Linear(dim, dim)
        self.to_key = nn.Linear(dim, dim)
        self.w_g = nn.Parameter(torch.randn(dim, 1))
        self.scale_factor = dim**-0.5
        self.Proj = nn.Linear(dim, dim)
        self.final = nn.Linear(dim, dim)

    def forward(self, x):
        query = F.normalize(self.to_query(x), dim=-1)
        key = F.normalize(self.to_key(x), dim=-1)
        a = (query @ self.w_g) * self.scale_factor  # B x N x 1
        if self.form == "normalize":
            a = F.normalize(a, dim=1)
        else:
            a = a.softmax(dim=-1)
        g = torch.sum(a * query, dim=1)  # B x D
        g = g.unsqueeze(1).repeat(1, key.shape[1], 1)
        return self.final(self.Proj(g * key) + query)


class SwiftFormerEncoder(nn.Module):
    """The last block of every stage: local representation, additive attention, MLP, layer scales."""

    def __init__(self, dim: int, mlp_ratio: int, layer_scale_init_value: float, form: AttentionForm):
        super().__init__()
        self.local_representation = ConvEncoder(dim, dim)
        self.attn = EfficientAdditiveAttention(dim, form)
        self.linear = Mlp(dim, int(dim * mlp_ratio))
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim, 1, 1))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim, 1, 1))

    def forward(self, x):
        x = self.local_representation(x)
        b, c, h, w = x.shape
        tokens = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        attn = self.attn(tokens).reshape(b, h, w, c).permute(0, 3, 1, 2)
        x = x + self.layer_scale_1 * attn
        return x + self.layer_scale_2 * self.linear(x)


class SwiftFormerOriginal(nn.Module):
    """Eval output is (head + dist_head) / 2, as in the original code."""

    def __init__(self, spec: SwiftFormerSpec, attention_form: AttentionForm = "normalize"):
        super().__init__()
        self.spec = spec
        self.attention_form = attention_form
        dims, depths = spec.embed_dims, spec.depths
        self.patch_embed = _stem(3, dims[0])
        network: list[nn.Module] = []
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            blocks = [ConvEncoder(dim, int(spec.mlp_ratio * dim)) for _ in range(depth - 1)]
            blocks.append(SwiftFormerEncoder(dim, spec.mlp_ratio, spec.layer_scale_init_value, attention_form))
            network.append(nn.Sequential(*blocks))
            if i < len(dims) - 1:
                network.append(Embedding(dim, dims[i + 1]))
        self.network = nn.ModuleList(network)
        self.norm = nn.BatchNorm2d(dims[-1])
        self.head = nn.Linear(dims[-1], spec.num_classes)
        self.dist_head = nn.Linear(dims[-1], spec.num_classes)
        self.apply(_init_weights)

    def forward(self, x):
        x = self.patch_embed(x)
        for stage in self.network:
            x = stage(x)
        x = self.norm(x)
        pooled = x.flatten(2).mean(-1)
        return (self.head(pooled) + self.dist_head(pooled)) / 2


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
