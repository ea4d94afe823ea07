"""SwiftFormer checkpoint formats: telling original `.pth` files from transformers ones, and their key maps."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import torch

from edge_export.errors import EdgeExportError
from edge_export.models.checkpoints import read_state_dict

CheckpointFormat = Literal["hf-folder", "original", "hf", "timm"]


def detect_format(path: Path) -> tuple[CheckpointFormat, dict[str, torch.Tensor] | None]:
    """('hf-folder', None) for a transformers folder, else the format of a state_dict file and its tensors."""
    path = Path(path)
    if path.is_dir():
        if (path / "config.json").is_file():
            return "hf-folder", None
        raise EdgeExportError(f"{path} is a folder without config.json: give a transformers folder or a .pth file")
    sd = read_state_dict(path)
    if any(k.startswith("swiftformer.") for k in sd):
        return "hf", sd
    if any(k.startswith(("patch_embed.", "network.")) for k in sd):
        return "original", sd
    if any(k.startswith("stem.") for k in sd) and any(k.startswith("stages.") for k in sd):
        return "timm", sd
    first = ", ".join(list(sd)[:3])
    raise EdgeExportError(
        f"{path} is not a SwiftFormer checkpoint (first keys: {first}): expected original keys (patch_embed., network.), "
        "transformers keys (swiftformer.) or timm keys (stem., stages.)"
    )


# Original repository -> transformers names (as transformers' convert_swiftformer_original_to_hf.py renames them).
def original_to_hf_key(key: str, stage_indices: set[int]) -> str:
    k = key.replace(".pwconv", ".point_wise_conv").replace(".dwconv", ".depth_wise_conv").replace(".Proj.", ".proj.")
    if k.startswith("patch_embed."):
        return "swiftformer.patch_embed.patch_embedding." + k[len("patch_embed.") :]
    m = re.match(r"network\.(\d+)\.(\d+)\.(.*)", k)
    if m and int(m.group(1)) in stage_indices:
        return f"swiftformer.encoder.network.{m.group(1)}.blocks.{m.group(2)}.{m.group(3)}"
    if k.startswith("network."):
        return "swiftformer.encoder." + k
    return k


def hf_to_original_key(key: str) -> str:
    k = key.replace(".point_wise_conv", ".pwconv").replace(".depth_wise_conv", ".dwconv").replace(".attn.proj.", ".attn.Proj.")
    k = k.replace("swiftformer.patch_embed.patch_embedding.", "patch_embed.")
    k = re.sub(r"^swiftformer\.encoder\.network\.(\d+)\.blocks\.(\d+)\.", r"network.\1.\2.", k)
    return k.replace("swiftformer.encoder.network.", "network.")


# timm (timm/models/swiftformer.py, whose checkpoint_filter_fn renames original keys) -> original names.
def timm_to_original_key(key: str) -> str:
    k = re.sub(r"^stem\.", "patch_embed.", key)
    k = re.sub(r"^stages\.(\d+)\.blocks\.(\d+)\.", lambda m: f"network.{2 * int(m.group(1))}.{m.group(2)}.", k)
    k = re.sub(r"^stages\.(\d+)\.downsample\.", lambda m: f"network.{2 * int(m.group(1)) - 1}.", k)
    k = re.sub(r"(layer_scale(?:_[12])?)\.gamma$", r"\1", k)
    k = k.replace(".attn.proj.", ".attn.Proj.")
    return re.sub(r"^head_dist\.", "dist_head.", k)
