"""A tiny SwiftFormer trained in the test on scikit-learn's digits: a model with real, non-trivial outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

SIZE = 32


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """(N, 32, 32, 3) uint8 images and labels, upscaled from sklearn's 8x8 digits."""
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = (d.images / 16.0 * 255).astype(np.uint8)
    imgs = np.kron(imgs, np.ones((1, SIZE // 8, SIZE // 8), dtype=np.uint8))
    return np.repeat(imgs[..., None], 3, axis=-1), d.target


def train_digits_swiftformer(epochs: int = 3, seed: int = 0):
    """(LoadedModel, test images, test labels, accuracy) for swiftformer-test at 32 px trained on digits."""
    from edge_export.images import preprocess
    from edge_export.models import load_model

    torch.manual_seed(seed)
    loaded = load_model("swiftformer-test", seed=seed, options={"image_size": SIZE, "layer_scale_init_value": 1.0})
    imgs, labels = digit_images()
    x = torch.cat([preprocess(im, loaded.preprocessing) for im in imgs])
    y = torch.from_numpy(labels).long()
    n_train = 1400
    model = loaded.module.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        perm = torch.randperm(n_train)
        for i in range(0, n_train, 64):
            idx = perm[i : i + 64]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(x[n_train:]).argmax(1) == y[n_train:]).float().mean())
    return loaded, imgs[n_train:], labels[n_train:], acc


def write_images(images: np.ndarray, folder: Path) -> Path:
    import skimage.io

    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        skimage.io.imsave(folder / f"digit_{i:03d}.png", im, check_contrast=False)
    return folder


def write_image_folder(images: np.ndarray, labels: np.ndarray, root: Path) -> Path:
    """ImageFolder layout: root/<digit>/<n>.png, the class folders named by output index."""
    import skimage.io

    for i, (im, label) in enumerate(zip(images, labels)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        skimage.io.imsave(root / str(label) / f"{i:04d}.png", im, check_contrast=False)
    return root
