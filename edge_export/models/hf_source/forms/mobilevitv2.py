"""MobileViT-v2: patches by reshape/permute and the linear attention's q/k/v as three convolutions.

- `unfold`/`fold` with kernel = stride = patch size is a pure reordering; as im2col/col2im torch.export
  lowers them to arange/index/index_put, which no delegate takes. A reshape + permute computes the same
  layout (B, C, patch pixels, patches). Feature maps that the patch size does not divide keep the original
  path (unfold drops the remainder, fold pads it back with zeros).
- the q/k/v split over the channels of a 4-D tensor miscomputes in ExecuTorch 1.5.1's XNNPACK program when
  decomposed into slices (docs/measurements.md), so the 1x1 projection runs as three convolutions over
  row blocks of the same weight (copied once into constants: a convolution whose weight is a slice computed
  in the graph is not delegated); `expand_as` becomes broadcasting (litert-torch refuses the expanded `mul`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edge_export.models.hf_source.forms import form_of


@form_of("MobileViTV2Layer", "MobileViT-v2 unfold/fold as reshape + permute")
class PatchesByReshape:
    def unfolding(self, features):
        b, c, h, w = features.shape
        ph, pw = self.patch_height, self.patch_width
        if h % ph or w % pw:
            return super().unfolding(features)
        patches = features.reshape(b, c, h // ph, ph, w // pw, pw).permute(0, 1, 3, 5, 2, 4)
        return patches.reshape(b, c, ph * pw, (h // ph) * (w // pw)), (h, w)

    def folding(self, patches, output_size):
        b, c, _, _ = patches.shape
        h, w = output_size
        ph, pw = self.patch_height, self.patch_width
        if h % ph or w % pw:
            return super().folding(patches, output_size)
        features = patches.reshape(b, c, ph, pw, h // ph, w // pw).permute(0, 1, 4, 2, 5, 3)
        return features.reshape(b, c, h, w)


@form_of("MobileViTV2LinearSelfAttention", "MobileViT-v2 attention with q/k/v as three convolutions")
class SplitQkvConvolutions:
    def prepare_form(self):
        conv = self.qkv_proj.convolution
        rows = [(0, 1), (1, 1 + self.embed_dim), (1 + self.embed_dim, conv.out_channels)]
        # plain tensor attributes: export lifts them as constants, the state_dict stays the model's
        self.qkv_blocks = [(conv.weight[a:b].detach().clone(), conv.bias[a:b].detach().clone()) for a, b in rows]

    def forward(self, hidden_states):
        query, key, value = (F.conv2d(hidden_states, w, b) for w, b in self.qkv_blocks)
        context_scores = self.attn_dropout(torch.softmax(query, dim=-1))
        context_vector = (key * context_scores).sum(dim=-1, keepdim=True)
        return self.out_proj(torch.relu(value) * context_vector)
