"""`evaluate`: every artifact in its real runtime on a labelled folder, the PyTorch reference once per model,
and an eval.json beside each manifest.

Everything that can be refused is refused before the first image runs (manifests, labels, the reference
rebuilt from its source), so a bad input leaves no eval.json behind; each eval.json is written whole or not
at all (temp file, then rename)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edge_export.artifacts import Manifest, read_manifest, write_json_atomic
from edge_export.data.files import read_image
from edge_export.data.imagefolder import ImageFolder, LabelMatch, check_class_names, match_classes, read_image_folder, read_labels_file
from edge_export.errors import EdgeExportError, first_line
from edge_export.evaluate.metrics import accuracy
from edge_export.evaluate.results import EVAL_NAME, EVAL_SCHEMA
from edge_export.images import preprocess
from edge_export.validate import compare_logits



@dataclass
class _Model:
    """What artifacts of one model share: the reference, the label match, preprocessed images, reference logits."""

    reference: object
    match: LabelMatch
    preprocessing: object  # the manifest's: every artifact of this model takes the same input
    batch: torch.Tensor | None = None
    truth: np.ndarray | None = None
    ref_logits: np.ndarray | None = None


def _source_key(m: Manifest) -> str:
    return json.dumps([m.source.model_dump(mode="json"), m.preprocessing.model_dump(mode="json")], sort_keys=True)


def _rebuild_reference(manifest: Manifest, where: Path):
    from edge_export.models import load_from_source

    try:
        return load_from_source(manifest.source)
    except Exception as e:  # noqa: BLE001 - any failure means the same thing to the user
        raise EdgeExportError(
            f"{where}: the PyTorch reference of {manifest.model_id} cannot be rebuilt from its source ({first_line(e)}): "
            "evaluate needs the model the artifact came from; re-export from a source this machine has"
        ) from None


def read_labelled_images(folder: ImageFolder, progress: Callable[[str, int, int], None] = lambda w, d, t: None
                         ) -> tuple[list[tuple[np.ndarray, str]], list[Path]]:
    """([(image, class folder)], unreadable files); one-line error when none can be read."""
    images, unreadable = [], []
    for i, (path, cls) in enumerate(folder.samples):
        img = read_image(path)
        (unreadable.append(path) if img is None else images.append((img, cls)))
        progress("reading images", i + 1, len(folder.samples))
    if not images:
        raise EdgeExportError(f"none of the {len(folder.samples)} images in {folder.root} could be read: "
                              "give png/jpg/bmp/webp files")
    return images, unreadable


def evaluate(
    artifact_dirs: list[Path],
    data: Path,
    *,
    limit: int | None = None,
    threads: int = 1,
    labels: Path | None = None,
    seed: int = 0,
    progress: Callable[[str, int, int], None] = lambda what, done, total: None,
) -> list[Path]:
    """Score every artifact on the ImageFolder `data`; returns the eval.json paths written."""
    from edge_export.runtimes import open_runner

    if not artifact_dirs:
        raise EdgeExportError("no artifact directories given: evaluate ARTIFACT_DIR... --data DIR")
    folder = read_image_folder(data, limit, seed)
    given_labels = read_labels_file(labels) if labels is not None else None
    manifests = [(Path(d), read_manifest(Path(d))) for d in artifact_dirs]
    models: dict[str, _Model] = {}
    for d, m in manifests:  # every refusal happens here, before any image runs
        key = _source_key(m)
        if key not in models:
            model_labels = given_labels or m.labels
            check_class_names(m.labels, given_labels is not None, folder.classes, f"{d}: {m.model_id}")
            models[key] = _Model(_rebuild_reference(m, d), match_classes(folder.classes, model_labels, m.num_classes),
                                 m.preprocessing)

    images, unreadable = read_labelled_images(folder, progress)

    for model in models.values():
        model.batch = torch.cat([preprocess(img, model.preprocessing) for img, _ in images])
        model.truth = np.array([model.match.index[c] for _, c in images])
        outs = []
        with torch.no_grad():
            for s in range(0, len(images), 32):
                outs.append(model.reference.logits(model.batch[s : s + 32]).numpy())
                progress("PyTorch reference", min(s + 32, len(images)), len(images))
        model.ref_logits = np.concatenate(outs)

    written = []
    data_info = {
        "root": str(Path(data).resolve()), "images": len(images), "classes": len(folder.classes),
        "files_sha256": folder.digest(), "limit": limit,
        "unreadable": [str(p.relative_to(data)) for p in unreadable],
    }
    for d, m in manifests:
        model = models[_source_key(m)]
        class_of = {i: c for c, i in model.match.index.items()}
        got = []
        with open_runner(d, m, threads=threads) as runner:
            for i in range(len(images)):
                got.append(runner.logits(model.batch[i : i + 1].numpy()))
                progress(f"{m.model_id} {m.target}", i + 1, len(images))
        got = np.concatenate(got).astype(np.float64)
        result = {
            "schema": EVAL_SCHEMA,
            "model_id": m.model_id,
            "target": m.target,
            "artifact_sha256": m.file_sha256,
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "threads": threads,
            "data": {**data_info, "label_match": model.match.how},
            "artifact": accuracy(got, model.truth, class_of),
            "reference": accuracy(model.ref_logits, model.truth, class_of),
            "agreement": compare_logits(model.ref_logits, got),
        }
        result["top1_drop"] = result["reference"]["top1"] - result["artifact"]["top1"]
        write_json_atomic(d / EVAL_NAME, result)
        written.append(d / EVAL_NAME)
    return written
