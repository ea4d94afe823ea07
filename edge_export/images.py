"""Real photographs that ship with scikit-image, and the model-specific preprocessing applied to them.

Validation uses centre crops of the first N images; calibration uses seeded random crops and flips of all
of them, so int8 calibration never sees exactly the inputs it is judged on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edge_export.artifacts import Preprocessing
from edge_export.data.files import FileSet, as_rgb, image_files, load_all
from edge_export.errors import EdgeExportError

# Colour photographs first (most like a camera feed), then greyscale ones replicated to RGB.
_COLOUR = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
           "colorwheel", "logo", "stereo_motorcycle"]
_GREY = ["camera", "brick", "grass", "gravel", "coins", "clock", "moon", "page", "text", "cell", "microaneurysms"]


def sample_images() -> list[tuple[str, np.ndarray]]:
    """(name, HxWx3 uint8) for every photograph scikit-image ships."""
    import skimage.data as data

    out = []
    for name in _COLOUR + _GREY:
        img = getattr(data, name)()
        if name == "stereo_motorcycle":
            out += [("motorcycle_left", as_rgb(img[0])), ("motorcycle_right", as_rgb(img[1]))]
        else:
            out.append((name, as_rgb(img)))
    return out


def images_from_dir(folder: Path) -> list[tuple[str, np.ndarray]]:
    """(path relative to folder, image) for every readable image under folder; unreadable files are skipped."""
    good, _ = load_all(image_files(folder))
    return [(str(p.relative_to(folder)), img) for p, img in good]


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


def _augmented_crops(images: list[np.ndarray], pre: Preprocessing, n: int, seed: int) -> list[torch.Tensor]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = images[i % len(images)]
        h, w = img.shape[:2]
        area = rng.uniform(0.3, 1.0) * h * w
        side = int(min(h, w, np.sqrt(area)))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = img[top : top + side, left : left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(preprocess(np.ascontiguousarray(crop), pre))
    return out


@dataclass
class Calibration:
    batches: list[torch.Tensor]  # single-image batches in the model's preprocessing
    source: dict  # what the manifest records: where the images came from, how many, which


def calibration(pre: Preprocessing, n: int, seed: int = 0, calib_dir: Path | None = None) -> Calibration:
    """n calibration images. Without `calib_dir`: seeded random crops (30-100 % area) and flips of the sample
    photographs (there are only 21). With it: n of the user's images (seeded choice, all when n is larger),
    each through the model's own preprocessing, since those are the inputs the deployed model will see."""
    if n < 1:
        raise EdgeExportError(f"--calib must be at least 1 (got {n})")
    if calib_dir is None:
        batches = _augmented_crops([img for _, img in sample_images()], pre, n, seed)
        return Calibration(batches, {"source": "scikit-image sample photographs (seeded random crops and flips)",
                                     "images": len(batches), "seed": seed})
    chosen = FileSet.choose(calib_dir, n, seed, "calibration images")
    good, bad = load_all(chosen.files)
    return Calibration(
        [preprocess(img, pre) for _, img in good],
        {"source": str(Path(calib_dir).resolve()), "images": len(good), "found": chosen.found, "seed": seed,
         "files_sha256": chosen.digest(), "unreadable": [str(p.relative_to(calib_dir)) for p in bad]},
    )


def calibration_batches(pre: Preprocessing, n: int, seed: int = 0) -> list[torch.Tensor]:
    """n single-image batches of the sample photographs (see `calibration`)."""
    return calibration(pre, n, seed).batches
