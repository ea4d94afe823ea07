"""Swin: the relative-position bias and the shifted-window mask as constants.

Both depend only on parameters and the feature-map size, yet transformers computes them in every forward: the
bias as a gather of the bias table by an index buffer, the mask by slice assignments into a zero image. As
graph ops they stay outside XNNPACK (index, slice_scatter, where); computed once here they are constants of
the program. The mask is made for the resolution the layer was built for; another resolution at run time
takes transformers' own path (correct, only not delegated). Patch merging's four strided slices are one
reshape + permute (LiteRT's XNNPACK delegate does not take a strided slice); the cyclic shift (`torch.roll`)
is a graph-level decomposition (runtimes/executorch/decompositions.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from edge_export.models.hf_source.forms import form_of


@form_of("SwinSelfAttention", "Swin relative-position bias as a constant")
class ConstantPositionBias:
    def prepare_form(self):
        n = self.window_size[0] * self.window_size[1]
        table = self.relative_position_bias_table.detach()
        bias = table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        # a plain attribute: export lifts it as a constant; the state_dict stays the model's
        self.position_bias = bias.unsqueeze(0).contiguous().clone()

    def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False):
        batch_size, tokens, _ = hidden_states.shape
        shape = (batch_size, tokens, -1, self.attention_head_size)
        query = self.query(hidden_states).view(shape).transpose(1, 2)
        key = self.key(hidden_states).view(shape).transpose(1, 2)
        value = self.value(hidden_states).view(shape).transpose(1, 2)
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        scores = scores + self.position_bias
        if attention_mask is not None:
            if attention_mask.dim() == 3:  # transformers' (windows, tokens, tokens); the constant one is 5-D
                attention_mask = attention_mask.unsqueeze(1).unsqueeze(0)
            windows = attention_mask.shape[1]
            scores = scores.view(batch_size // windows, windows, self.num_attention_heads, tokens, tokens)
            scores = (scores + attention_mask).view(-1, self.num_attention_heads, tokens, tokens)
        probs = self.dropout(nn.functional.softmax(scores, dim=-1))
        if head_mask is not None:
            probs = probs * head_mask
        context = torch.matmul(probs, value).permute(0, 2, 1, 3).contiguous()
        context = context.view(context.shape[:-2] + (self.all_head_size,))
        return (context, probs) if output_attentions else (context,)


@form_of("SwinLayer", "Swin window mask as a constant")
class ConstantWindowMask:
    def prepare_form(self):
        self.window_masks = {}
        height, width = self.input_resolution
        if self.shift_size <= 0 or min(height, width) <= self.window_size:
            return  # transformers makes this layer unshifted at its resolution: no mask
        pad_h, pad_w = (-height) % self.window_size, (-width) % self.window_size
        size = (height + pad_h, width + pad_w)
        # already shaped (1, windows, 1, tokens, tokens) as the attention adds it: a reshape of a constant
        # would be an op outside the delegate
        mask = super().get_attn_mask(*size, dtype=torch.float32, device="cpu")
        self.window_masks[size] = mask.unsqueeze(1).unsqueeze(0).contiguous()

    def get_attn_mask(self, height, width, dtype, device):
        mask = self.window_masks.get((height, width)) if self.shift_size > 0 else None
        if mask is None:
            return super().get_attn_mask(height, width, dtype, device)
        return mask.to(dtype=dtype, device=device)


@form_of("SwinPatchMerging", "Swin patch merging as reshape + permute")
class PatchMergingByReshape:
    def forward(self, input_feature, input_dimensions):
        height, width = input_dimensions
        batch_size, _, channels = input_feature.shape
        if height % 2 or width % 2:
            return super().forward(input_feature, input_dimensions)
        # transformers concatenates x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]: the row parity
        # varies fastest, so the pair axes go (column parity, row parity) before the channels
        grid = input_feature.reshape(batch_size, height // 2, 2, width // 2, 2, channels).permute(0, 1, 3, 4, 2, 5)
        merged = grid.reshape(batch_size, (height // 2) * (width // 2), 4 * channels)
        return self.reduction(self.norm(merged))
