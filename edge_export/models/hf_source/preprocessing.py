"""Preprocessing of an `hf:` model: from the folder's `preprocessor_config.json` (as an image processor's
save_pretrained writes it) when there is one, else the config's image size with ImageNet statistics."""

from __future__ import annotations

import json
from pathlib import Path

from edge_export.artifacts import Preprocessing
from edge_export.errors import EdgeExportError

PREPROCESSOR_FILE = "preprocessor_config.json"
_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}  # PIL.Image.Resampling values


def config_image_size(config) -> int:
    size = getattr(config, "image_size", 224)
    if isinstance(size, (list, tuple)):
        size = size[-1]
    return int(size)


def from_folder(folder: Path | None, config) -> tuple[Preprocessing, str]:
    """(preprocessing, where it came from: a note for the manifest)."""
    path = folder / PREPROCESSOR_FILE if folder is not None else None
    if path is None or not path.is_file():
        size = config_image_size(config)
        why = "no preprocessor_config.json" if folder is not None else "built from a config"
        return (Preprocessing(image_size=size, crop_pct=0.875, interpolation="bicubic"),
                f"preprocessing: {why}, so {size}px, crop_pct 0.875, bicubic, ImageNet mean/std (family defaults)")
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise EdgeExportError(f"{path} is unreadable ({e}): save it with the image processor's save_pretrained()") from None
    size = _crop_size(cfg) or config_image_size(config)
    resize = _resize_size(cfg)
    crop_pct = float(cfg["crop_pct"]) if cfg.get("crop_pct") else (size / resize if resize else 1.0)
    pre = Preprocessing(
        image_size=size,
        crop_pct=min(crop_pct, 1.0),
        interpolation=_RESAMPLE.get(cfg.get("resample", 3), "bicubic"),
        mean=list(cfg.get("image_mean") or [0.485, 0.456, 0.406]) if cfg.get("do_normalize", True) else [0.0] * 3,
        std=list(cfg.get("image_std") or [0.229, 0.224, 0.225]) if cfg.get("do_normalize", True) else [1.0] * 3,
    )
    return pre, f"preprocessing: from {PREPROCESSOR_FILE} ({cfg.get('image_processor_type', 'image processor')})"


def _side(value) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        for key in ("height", "shortest_edge", "width"):
            if value.get(key):
                return int(value[key])
    return None


def _crop_size(cfg: dict) -> int | None:
    if cfg.get("do_center_crop", "crop_size" in cfg) and cfg.get("crop_size"):
        return _side(cfg["crop_size"])
    return _side(cfg.get("size"))


def _resize_size(cfg: dict) -> int | None:
    return _side(cfg.get("size"))
