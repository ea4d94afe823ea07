"""`int8_sensitivity`: which modules an int8 target should keep float, found on the user's images and
checked on the real artifact."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from edge_export.errors import EdgeExportError
from edge_export.models.loaded import LoadedModel
from edge_export.sensitivity.search import DEPTHS, Search, score, search

REPORT_SCHEMA = "edge-export-int8-sensitivity/1"
# target -> "module:Class" of its Candidates (the target's own quantizer configuration)
SIMULATORS = {
    "xnnpack-int8": "edge_export.sensitivity.pt2e:XnnpackInt8Candidates",
    "tflite-int8": "edge_export.sensitivity.litert:LiteRtInt8Candidates",
}


@dataclass
class SensitivityRequest:
    model: str | LoadedModel
    target: str
    checkpoint: Path | None = None
    seed: int = 0
    model_options: dict[str, Any] = field(default_factory=dict)
    target_options: dict[str, Any] = field(default_factory=dict)  # the target's other options (observer...)
    data: Path | None = None  # labelled images (ImageFolder): score = top-1 accuracy
    labels: Path | None = None
    limit: int | None = None
    images: int = 16  # without --data: this many of the sample photographs, score = cosine to the float model
    depth: str = "block"
    budget: int = 3
    calib: int = 32
    calib_dir: Path | None = None
    threads: int = 1
    cross_check: bool = True
    keep: Path | None = None  # keep the cross-check artifacts here (default: a temporary dir)


def check_request(r: SensitivityRequest):
    """The target and its parsed options; one-line errors for everything knowable before loading the model."""
    from edge_export.targets import get_target

    if r.target not in SIMULATORS:
        raise EdgeExportError(f"int8-sensitivity does not support target {r.target!r}: choose {' or '.join(SIMULATORS)}")
    if isinstance(r.budget, bool) or not isinstance(r.budget, int) or r.budget < 0:
        raise EdgeExportError(f"--budget must be a whole number >= 0 (modules kept float), got {r.budget!r}")
    if r.depth not in DEPTHS:
        raise EdgeExportError(f"--depth {r.depth!r} is not a depth: choose {', '.join(DEPTHS)}")
    if r.data is None and r.images < 1:
        raise EdgeExportError(f"--images must be >= 1, got {r.images}")
    if r.limit is not None and r.limit < 1:
        raise EdgeExportError(f"--limit must be >= 1, got {r.limit}")
    if "float_modules" in r.target_options:
        raise EdgeExportError("float_modules is what int8-sensitivity finds: leave it out of --target-opt")
    target = get_target(r.target)
    options = target.options(r.target_options)
    if r.calib_dir is not None:
        from edge_export.data import image_files

        image_files(r.calib_dir, "calibration images (--calib-dir)")
    return target, options


def _scoring_batch(r: SensitivityRequest, loaded: LoadedModel, progress) -> tuple[torch.Tensor, np.ndarray | None, dict]:
    from edge_export.images import preprocess, validation_batch

    if r.data is None:
        names, batch = validation_batch(loaded.preprocessing, r.images)
        return batch, None, {"source": "sample photographs", "images": len(batch)}
    from edge_export.data.imagefolder import check_class_names, match_classes, read_image_folder, read_labels_file
    from edge_export.evaluate.run import read_labelled_images

    folder = read_image_folder(r.data, r.limit, r.seed)
    labels = read_labels_file(r.labels) if r.labels is not None else loaded.labels
    check_class_names(loaded.labels, r.labels is not None, folder.classes, loaded.model_id)
    match = match_classes(folder.classes, labels, loaded.num_classes)
    images, unreadable = read_labelled_images(folder, progress)
    batch = torch.cat([preprocess(img, loaded.preprocessing) for img, _ in images])
    truth = np.array([match.index[c] for _, c in images])
    return batch, truth, {"source": str(Path(r.data).resolve()), "images": len(images), "classes": len(folder.classes),
                          "files_sha256": folder.digest(), "label_match": match.how,
                          "unreadable": [str(p.relative_to(r.data)) for p in unreadable]}


def _cross_check(r: SensitivityRequest, loaded: LoadedModel, chosen: list[str], batch, reference, truth, where: Path,
                 progress) -> dict:
    """Export the target without and with the recipe, run both in the real runtime on the scoring images."""
    from edge_export.artifacts import read_manifest
    from edge_export.export import export_model
    from edge_export.runtimes import open_runner

    out = {}
    for label, names in (("int8", []), ("recipe", chosen)):
        if label == "recipe" and not names:
            break
        opts = {**r.target_options, "float_modules": ",".join(names)}
        progress(f"cross-check: exporting {r.target} ({label})", 0, 1)
        (d,) = export_model(loaded, [r.target], out_dir=where / label, seed=r.seed, target_options=opts, calib=r.calib,
                            calib_dir=r.calib_dir, validate_images=0, threads=r.threads, jobs=1)
        manifest = read_manifest(d)
        rows, seconds = [], []
        with open_runner(d, manifest, threads=r.threads) as runner:
            runner.logits(batch[:1].numpy())  # warm-up
            for i in range(len(batch)):
                start = time.perf_counter()
                rows.append(runner.logits(batch[i : i + 1].numpy()))
                seconds.append(time.perf_counter() - start)
                progress(f"cross-check: {r.target} ({label}) in its runtime", i + 1, len(batch))
        s = score(np.concatenate(rows), reference, truth)
        out[label] = {**s.to_json(), "artifact": str(d) if r.keep else None, "file_bytes": manifest.file_bytes,
                      "median_ms": round(1000 * float(np.median(seconds)), 3), "threads": r.threads}
    if "recipe" in out:
        out["size_ratio"] = round(out["recipe"]["file_bytes"] / out["int8"]["file_bytes"], 4)
        out["latency_ratio"] = round(out["recipe"]["median_ms"] / out["int8"]["median_ms"], 4)
    return out


def int8_sensitivity(r: SensitivityRequest,
                     progress: Callable[[str, int, int], None] = lambda what, done, total: None) -> dict:
    """The report: reference/baseline scores, every candidate's score alone, the greedy picks, the recipe and
    (cross_check) the real artifacts' scores, sizes and latencies without and with it."""
    import importlib

    from edge_export.models import load_model
    from edge_export.models.export_form import export_form
    from edge_export.targets.base import ExportContext

    start = time.perf_counter()
    target, options = check_request(r)
    loaded = r.model
    if not isinstance(loaded, LoadedModel):
        progress(f"loading {loaded}", 0, 1)
        loaded = load_model(loaded, r.checkpoint, r.seed, dict(r.model_options))
    batch, truth, data = _scoring_batch(r, loaded, progress)
    module, _ = export_form(loaded)
    with torch.no_grad():
        reference = torch.cat([module(batch[i : i + 32]) for i in range(0, len(batch), 32)]).numpy()
    sample = torch.zeros(loaded.input_shape())
    modname, _, cls = SIMULATORS[r.target].partition(":")
    with tempfile.TemporaryDirectory(prefix="edge-export-sensitivity-") as tmp:
        ctx = ExportContext(workdir=Path(tmp), calib=r.calib, seed=r.seed, calib_dir=r.calib_dir, options=options,
                            progress=lambda m: progress(m, 0, 1))
        cands = getattr(importlib.import_module(modname), cls)(module, loaded, sample, ctx, r.threads)
        found: Search = search(cands, batch, reference, truth, r.depth, r.budget, progress)
        report = {
            "schema": REPORT_SCHEMA,
            "model_id": loaded.model_id,
            "target": r.target,
            "target_options": options.given(),
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "depth": r.depth,
            "budget": r.budget,
            "scored_by": "top1" if truth is not None else "cosine",
            "data": data,
            "reference": found.reference.to_json(),
            "baseline": found.baseline.to_json(),
            "ranking": [{"module": x.module, "ops": x.ops, **x.score.to_json(), "gain": round(x.gain, 6)}
                        for x in found.ranking],
            "greedy": [{"float_modules": names, **s.to_json()} for names, s in found.steps],
            "float_modules": found.chosen,
            "recipe": f"float_modules={','.join(found.chosen)}" if found.chosen else None,
        }
        if r.cross_check:
            where = Path(r.keep) if r.keep else Path(tmp)
            report["cross_check"] = _cross_check(r, loaded, found.chosen, batch, reference, truth, where, progress)
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report
