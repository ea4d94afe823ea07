"""A labelled folder in ImageFolder layout (one subfolder per class) matched to a model's output classes.

Folder names are matched to the model's labels exactly, then ignoring case and `_`/`-`/space differences,
then as an output index ("0", "17"). Labels come from the manifest, or from `--labels`: a text file with one
label per line in output order, or a JSON id -> name mapping (what transformers' `id2label` holds)."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from edge_export.data.files import files_digest, image_files
from edge_export.errors import EdgeExportError


@dataclass(frozen=True)
class ImageFolder:
    root: Path
    classes: list[str]  # subfolder names, sorted
    samples: list[tuple[Path, str]]  # (file, class folder), sorted by class then file

    def digest(self) -> str:
        return files_digest(self.root, [p for p, _ in self.samples])


def read_image_folder(root: Path, limit: int | None = None, seed: int = 0) -> ImageFolder:
    """The classes and files of `root`; `limit` keeps that many files, the same share of every class."""
    root = Path(root)
    if not root.is_dir():
        raise EdgeExportError(f"{root} is not a folder: give --data a folder with one subfolder of images per class")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    per_class = {}
    for c in classes:
        try:
            per_class[c] = image_files(root / c)
        except EdgeExportError:
            continue  # an empty class folder holds nothing to score
    if not per_class:
        raise EdgeExportError(f"no class subfolders with images in {root}: give --data a folder with one subfolder of "
                              "images per class (ImageFolder layout)")
    samples = [(p, c) for c, files in per_class.items() for p in files]
    if limit is not None:
        if limit < 1:
            raise EdgeExportError(f"--limit must be at least 1 (got {limit})")
        if limit < len(samples):
            import random

            chosen = set(random.Random(seed).sample(range(len(samples)), limit))
            samples = [s for i, s in enumerate(samples) if i in chosen]
    return ImageFolder(root, sorted({c for _, c in samples}), samples)


def read_labels_file(path: Path) -> list[str]:
    """Labels in output order from a text file (one per line) or a JSON list / {id: name} mapping."""
    path = Path(path)
    if not path.is_file():
        raise EdgeExportError(f"--labels {path} does not exist: give labels.txt (one per line) or a JSON id->name map")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise EdgeExportError(f"--labels {path} is not valid JSON ({e.msg}): give a list or an id->name map") from None
        if isinstance(data, dict) and isinstance(data.get("id2label"), dict):
            data = data["id2label"]  # a transformers config.json
        if isinstance(data, dict):
            try:
                by_id = {int(k): str(v) for k, v in data.items()}
            except ValueError:
                raise EdgeExportError(f"--labels {path}: keys must be output indices (\"0\", \"1\", ...)") from None
            return [by_id.get(i, f"LABEL_{i}") for i in range(max(by_id) + 1)]
        if isinstance(data, list):
            return [str(v) for v in data]
        raise EdgeExportError(f"--labels {path}: give a JSON list of names or an id->name map")
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise EdgeExportError(f"--labels {path} is empty: one label per line, in the model's output order")
    return labels


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name).strip().lower()


@dataclass(frozen=True)
class LabelMatch:
    index: dict[str, int]  # class folder -> output index
    how: str  # "names", "normalised names", "indices"


def match_classes(folders: list[str], labels: list[str] | None, num_classes: int) -> LabelMatch:
    """Output index of every class folder; a one-line error naming the folders that match no label."""
    labels = list(labels or [])
    exact = {l: i for i, l in enumerate(labels)}
    normal = {_norm(l): i for i, l in enumerate(labels)}
    out, how = {}, set()
    for f in folders:
        if f in exact:
            out[f], _ = exact[f], how.add("names")
        elif _norm(f) in normal:
            out[f], _ = normal[_norm(f)], how.add("normalised names")
        elif f.isdigit() and int(f) < num_classes and not labels_are_named(labels):
            out[f], _ = int(f), how.add("indices")
    missing = [f for f in folders if f not in out]
    if missing:
        close = difflib.get_close_matches(missing[0], labels, n=3)
        hint = f" (closest labels: {', '.join(close)})" if close else ""
        raise EdgeExportError(
            f"{len(missing)} of {len(folders)} class folders match no label of the model: {', '.join(missing[:3])}"
            f"{'...' if len(missing) > 3 else ''}{hint}: rename the folders or give --labels labels.txt "
            "(one label per line, in output order)"
        )
    return LabelMatch(out, ", ".join(sorted(how)))


def labels_are_named(labels: list[str]) -> bool:
    """False for the placeholder names transformers gives an unlabelled head (LABEL_0, ...)."""
    return bool(labels) and not all(re.fullmatch(r"LABEL_\d+", l) for l in labels)


def check_class_names(model_labels: list[str] | None, labels_given: bool, classes: list[str], who: str) -> None:
    """One-line refusal when neither the model's labels nor a --labels file can name the class folders (and
    the folders are not output indices)."""
    if not labels_given and not labels_are_named(model_labels or []) and not all(c.isdigit() for c in classes):
        raise EdgeExportError(f"{who} has no class names (its labels are LABEL_0...): give --labels labels.txt "
                              "(one label per line, in output order) or name the class folders by output index")
