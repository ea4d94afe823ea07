"""Reading checkpoints (state_dict files, transformers folders) and loading them strictly with readable errors.

Format detection and key maps of one family live in its folder (edge_export/models/swiftformer/checkpoints.py)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from edge_export.errors import EdgeExportError

HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth/.bin/.safetensors file; accepts {'model': sd}, {'state_dict': sd} or a bare sd."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a non-checkpoint file
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EdgeExportError(f"{path} is not a readable checkpoint ({msg[:120]}): give a .pth/.safetensors state_dict") from None
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_ema"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EdgeExportError(f"{path} holds no state_dict of tensors: give a checkpoint saved with torch.save(model.state_dict())")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def hf_folder_weights(folder: Path) -> Path:
    for name in HF_WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise EdgeExportError(f"{folder} has config.json but no {' or '.join(HF_WEIGHT_FILES)}: save it with save_pretrained()")


def read_hf_config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise EdgeExportError(f"{folder}/config.json is unreadable ({e}): save the model with save_pretrained()") from None


def labels_from_hf_config(cfg: dict) -> list[str] | None:
    """Class names from a transformers config's id2label, unless they are the LABEL_<i> placeholders."""
    id2label = cfg.get("id2label") or {}
    labels = [id2label.get(str(i), id2label.get(i)) for i in range(len(id2label))]
    if not labels or any(lab is None for lab in labels) or all(str(lab).startswith("LABEL_") for lab in labels):
        return None
    return [str(lab) for lab in labels]


def load_strict(module: nn.Module, state_dict: dict[str, torch.Tensor], what: str, hint: str = "") -> None:
    """load_state_dict(strict=True), with a one-line error naming the first offending keys."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} {list(state_dict[k].shape)} vs {list(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (first: {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (first: {', '.join(unexpected[:3])})")
    if mismatched:
        problems.append(f"{len(mismatched)} with other shapes (first: {'; '.join(mismatched[:2])})")
    if problems:
        raise EdgeExportError(f"checkpoint does not fit {what}: {'; '.join(problems)}{hint}")
    module.load_state_dict(state_dict, strict=True)
