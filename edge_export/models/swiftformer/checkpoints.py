"""SwiftFormer checkpoint formats: telling original `.pth` files from transformers ones, and their key maps."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import torch

from edge_export.errors import EdgeExportError
from edge_export.models.checkpoints import read_state_dict
from edge_export.profile.schema import MODEL_INPUT

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


# Module paths of transformers' port that hold no parameter of their own, hence have no checkpoint key: the
# containers only the port has. Its encoder wraps the original's top level (its own code: the TF port's transpose
# of the last feature map back to NCHW, the root's business); a stage's `blocks` list is the original's stage
# Sequential itself. Its main layer computes nothing of its own in PyTorch, and in the TF port only the model
# input's NCHW -> NHWC transpose (TFSwiftFormerMainLayer.call): the "(input)" pseudo-module, as the int8
# programs' input conversion.
_HF_ONLY_CONTAINERS = {"swiftformer": MODEL_INPUT, "swiftformer.encoder": "", "swiftformer.patch_embed": "patch_embed"}


def hf_to_original_module(path: str) -> str:
    """A module path of the transformers port (or of its export form) in the original names, by the checkpoint
    key map above: swiftformer.encoder.network.2.blocks.5.attn.proj -> network.2.5.attn.Proj. Original paths are
    returned unchanged; the port-only containers map to what they wrap ("" = the root) or do (see above)."""
    if path in _HF_ONLY_CONTAINERS:
        return _HF_ONLY_CONTAINERS[path]
    m = re.fullmatch(r"swiftformer\.encoder\.network\.(\d+)\.blocks", path)
    if m:
        return f"network.{m.group(1)}"
    return hf_to_original_key(f"{path}.")[:-1] if path else path


# timm (timm/models/swiftformer.py, whose checkpoint_filter_fn renames original keys) -> original names.
def timm_to_original_key(key: str) -> str:
    k = re.sub(r"^stem\.", "patch_embed.", key)
    k = re.sub(r"^stages\.(\d+)\.blocks\.(\d+)\.", lambda m: f"network.{2 * int(m.group(1))}.{m.group(2)}.", k)
    k = re.sub(r"^stages\.(\d+)\.downsample\.", lambda m: f"network.{2 * int(m.group(1)) - 1}.", k)
    k = re.sub(r"(layer_scale(?:_[12])?)\.gamma$", r"\1", k)
    k = k.replace(".attn.proj.", ".attn.Proj.")
    return re.sub(r"^head_dist\.", "dist_head.", k)
