"""Image files in a folder, found recursively, read as HxWx3 uint8; unreadable files are skipped and counted.

A corrupt file in a folder of thousands should not cost a user the whole run, but it must not pass silently
either: readers return None for it and every caller records the skipped names next to its result."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_export.errors import EdgeExportError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def image_files(folder: Path, what: str = "images") -> list[Path]:
    """Every image file under `folder` (any depth), sorted; a one-line error if there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgeExportError(f"{folder} is not a folder: give a folder of {what}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise EdgeExportError(f"no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} files in {folder}: give a folder of {what}")
    return files


def as_rgb(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.shape[-1] == 4:
        a = a[..., :3]
    if a.dtype != np.uint8:
        a = (255 * (a - a.min()) / max(float(a.max() - a.min()), 1e-12)).astype(np.uint8)
    return np.ascontiguousarray(a)


def read_image(path: Path) -> np.ndarray | None:
    """HxWx3 uint8, or None when the file is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return as_rgb(np.asarray(im.convert("RGB")))
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None


def files_digest(root: Path, files: list[Path]) -> str:
    """sha256 of the sorted paths relative to root: two runs used the same images when these agree."""
    h = hashlib.sha256()
    for p in sorted(files):
        h.update(str(p.relative_to(root)).encode() + b"\n")
    return h.hexdigest()


@dataclass(frozen=True)
class FileSet:
    """Files chosen from a folder, and how to say where they came from."""

    root: Path
    files: list[Path]
    found: int  # files in the folder before choosing

    def digest(self) -> str:
        return files_digest(self.root, self.files)

    @classmethod
    def choose(cls, folder: Path, n: int | None, seed: int, what: str = "images") -> "FileSet":
        """`n` files of the folder picked with `seed` (all of them when n is None or larger)."""
        files = image_files(folder, what)
        chosen = files if n is None or n >= len(files) else sorted(random.Random(seed).sample(files, n))
        return cls(Path(folder), chosen, len(files))


def load_all(files: list[Path]) -> tuple[list[tuple[Path, np.ndarray]], list[Path]]:
    """(readable (path, image) pairs, unreadable paths)."""
    good, bad = [], []
    for p in files:
        img = read_image(p)
        (bad.append(p) if img is None else good.append((p, img)))
    if not good:
        raise EdgeExportError(f"none of the {len(files)} image files could be read (first: {files[0]}): "
                              "give png/jpg/bmp/webp files")
    return good, bad
