"""Real photographs that ship with scikit-image, and the model-specific preprocessing applied to them.

Validation uses centre crops of the first N images; calibration uses seeded random crops and flips of all
of them, so int8 calibration never sees exactly the inputs it is judged on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edge_export.artifacts import Preprocessing
from edge_export.errors import EdgeExportError

# Colour photographs first (most like a camera feed), then greyscale ones replicated to RGB.
_COLOUR = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
           "colorwheel", "logo", "stereo_motorcycle"]
_GREY = ["camera", "brick", "grass", "gravel", "coins", "clock", "moon", "page", "text", "cell", "microaneurysms"]


def _as_rgb(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.shape[-1] == 4:
        a = a[..., :3]
    if a.dtype != np.uint8:
        a = (255 * (a - a.min()) / max(float(a.max() - a.min()), 1e-12)).astype(np.uint8)
    return np.ascontiguousarray(a)


def sample_images() -> list[tuple[str, np.ndarray]]:
    """(name, HxWx3 uint8) for every photograph scikit-image ships."""
    import skimage.data as data

    out = []
    for name in _COLOUR + _GREY:
        img = getattr(data, name)()
        if name == "stereo_motorcycle":
            out += [("motorcycle_left", _as_rgb(img[0])), ("motorcycle_right", _as_rgb(img[1]))]
        else:
            out.append((name, _as_rgb(img)))
    return out


def images_from_dir(folder: Path) -> list[tuple[str, np.ndarray]]:
    import skimage.io

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp"})
    if not files:
        raise EdgeExportError(f"no .png/.jpg images in {folder}: give a folder of images")
    return [(p.name, _as_rgb(skimage.io.imread(p))) for p in files]


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1).float().div_(255.0).unsqueeze(0)


def _resize_short(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    new = (max(size, round(h * scale)), max(size, round(w * scale)))
    antialias = mode in ("bicubic", "bilinear")
    return F.interpolate(x, size=new, mode=mode, antialias=antialias, align_corners=False if antialias else None)


def preprocess(img: np.ndarray, pre: Preprocessing) -> torch.Tensor:
    """Resize the short side to image_size / crop_pct, centre-crop, scale to [0,1], normalise: [1,3,S,S]."""
    x = _resize_short(_to_tensor(img), pre.resize_size, pre.interpolation).clamp_(0, 1)
    h, w = x.shape[-2:]
    s = pre.image_size
    top, left = (h - s) // 2, (w - s) // 2
    x = x[..., top : top + s, left : left + s]
    mean = torch.tensor(pre.mean).view(1, 3, 1, 1)
    std = torch.tensor(pre.std).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def validation_batch(pre: Preprocessing, n: int, image_dir: Path | None = None) -> tuple[list[str], torch.Tensor]:
    images = images_from_dir(image_dir) if image_dir else sample_images()
    if n > len(images):
        where = image_dir or "scikit-image's sample set"
        raise EdgeExportError(f"asked for {n} images but {where} has {len(images)}: lower --images")
    chosen = images[:n]
    return [name for name, _ in chosen], torch.cat([preprocess(img, pre) for _, img in chosen])


def calibration_batches(pre: Preprocessing, n: int, seed: int = 0) -> list[torch.Tensor]:
    """n single-image batches: seeded random crops (30-100 % area) and flips of the sample photographs."""
    if n < 1:
        raise EdgeExportError(f"--calib must be at least 1 (got {n})")
    rng = np.random.default_rng(seed)
    images = sample_images()
    out = []
    for i in range(n):
        _, img = images[i % len(images)]
        h, w = img.shape[:2]
        area = rng.uniform(0.3, 1.0) * h * w
        side = int(min(h, w, np.sqrt(area)))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = img[top : top + side, left : left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(preprocess(np.ascontiguousarray(crop), pre))
    return out
