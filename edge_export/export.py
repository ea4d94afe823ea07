"""The export API: model + targets -> validated artifact directories."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from edge_export import export_pool
from edge_export.artifacts import Manifest, sha256_file, staging_dir, write_manifest
from edge_export.errors import EdgeExportError, ExportFailed, ValidationFailed, first_line
from edge_export.export_pool import Outcome
from edge_export.models import LoadedModel, load_model
from edge_export.models.export_form import export_form
from edge_export.models.family import check_image_size, get_family
from edge_export.options import TargetOptions
from edge_export.targets import ExportContext, ExportResult, Target, get_target
from edge_export.validate import describe_failure, measure_parity, reference_logits
from edge_export.versions import package_versions

def artifact_name(model_id: str, target: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{model_id}-{target}")


@dataclass
class ExportRequest:
    model: str | LoadedModel
    targets: list[str]
    out_dir: Path = Path("artifacts")
    checkpoint: Path | None = None
    seed: int = 0
    model_options: dict[str, Any] = field(default_factory=dict)
    target_options: dict[str, Any] = field(default_factory=dict)
    calib: int = 32
    calib_dir: Path | None = None  # the user's calibration images (default: scikit-image's sample photographs)
    image_size: int | None = None
    validate_images: int = 8
    threads: int = 1
    jobs: int | None = None  # worker processes for target groups (export_pool); None: one per core


def export_model(model: str | LoadedModel, targets: list[str], *, out_dir: str | Path = "artifacts",
                 progress: Callable[[str], None] = lambda m: None, **fields: Any) -> list[Path]:
    """`export` of an ExportRequest built from these arguments (fields: checkpoint, seed, model_options,
    target_options, calib, calib_dir, image_size, validate_images, threads, jobs)."""
    return export(ExportRequest(model, list(targets), Path(out_dir), **fields), progress)


@dataclass
class _Prepared:
    """What every target of one export call shares: the model, its export form, and counts."""

    loaded: LoadedModel
    module: torch.nn.Module
    rewrites: list[str]
    sample: torch.Tensor
    params: int
    flops: int | None
    reference: np.ndarray | None  # the reference's logits on the validation images, shared by every target


def _checked_targets(request: ExportRequest) -> list[tuple[Target, TargetOptions]]:
    """Every target with its parsed options, available on this machine; all before any model work."""
    targets = [get_target(t) for t in request.targets]  # unknown names fail before any work
    if not targets:
        raise EdgeExportError("no --target given: choose at least one (see `edge-export targets`)")
    accepted = set().union(*(t.accepted_options for t in targets))
    unknown = sorted(set(request.target_options) - accepted)
    if unknown:
        names = ", ".join(t.name for t in targets)
        raise EdgeExportError(
            f"option {', '.join(unknown)} does not apply to {names}: accepted: {', '.join(sorted(accepted)) or 'none'}"
        )
    out = [(t, t.options({k: v for k, v in request.target_options.items() if k in t.accepted_options}))
           for t in targets]
    for t, options in out:
        t.check_available(options)
    if request.calib_dir is not None:  # an empty or missing folder fails before any model work
        from edge_export.data import image_files

        image_files(request.calib_dir, "calibration images (--calib-dir)")
    return out


def _prepare(request: ExportRequest, progress: Callable[[str], None]) -> _Prepared:
    loaded = request.model
    size = request.image_size
    if size is not None and size < 1:
        raise EdgeExportError(f"--image-size {size}: give the input side in pixels, or leave it out for the model's default")
    if not isinstance(loaded, LoadedModel):
        options = dict(request.model_options)
        if size is not None:
            options["image_size"] = size
        progress(f"loading {loaded}")
        loaded = load_model(loaded, request.checkpoint, request.seed, options)
    elif size is not None:
        loaded.preprocessing = loaded.preprocessing.model_copy(update={"image_size": size})
    check_image_size(loaded, loaded.preprocessing.image_size)  # --image-size, --opt image_size or the source's
    reference = None
    if request.validate_images > 0:  # before any export: a collapsed model wastes none
        reference = reference_logits(loaded, request.validate_images)
    module, rewrites = export_form(loaded)
    return _Prepared(loaded, module, rewrites, torch.zeros(loaded.input_shape()), loaded.param_count(), loaded.flops(),
                     reference)


def _manifest(target: Target, p: _Prepared, result: ExportResult, work: Path, seconds: float) -> Manifest:
    program = work / result.program_file
    loaded = p.loaded
    return Manifest(
        model_id=loaded.model_id, source=loaded.source, target=target.name, runtime=target.runtime,
        program_file=result.program_file, file_sha256=sha256_file(program), file_bytes=program.stat().st_size,
        inputs=result.inputs, outputs=result.outputs, preprocessing=loaded.preprocessing, labels=loaded.labels,
        num_classes=loaded.num_classes, params=p.params, flops=p.flops, rewrites=p.rewrites,
        package_versions=package_versions(), export_seconds=round(seconds, 2),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), delegation=result.delegation,
        etrecord_file=result.etrecord_file, target_options=result.target_options, notes=loaded.notes + result.notes,
        family=loaded.family, module_names=get_family(loaded.family).module_names,
    )


def _export_one(target: Target, options: TargetOptions, p: _Prepared, request: ExportRequest,
                progress: Callable[[str], None]) -> Path:
    """One artifact, built and validated in a staging dir that is renamed into place only when it passed."""
    final = Path(request.out_dir) / artifact_name(p.loaded.model_id, target.name)
    with staging_dir(final) as work:
        ctx = ExportContext(workdir=work, calib=request.calib, seed=request.seed, calib_dir=request.calib_dir,
                            options=options,
                            progress=lambda m: progress(f"{target.name}: {m}"))
        start = time.perf_counter()
        try:
            result = target.export(p.module, p.loaded, p.sample, ctx)
        except EdgeExportError:
            raise
        except Exception as e:
            first = first_line(e, 200)
            raise ExportFailed(f"{target.name} export of {p.loaded.model_id} failed: {type(e).__name__}: {first}") from e
        manifest = _manifest(target, p, result, work, time.perf_counter() - start)
        write_manifest(work, manifest)
        if request.validate_images > 0:
            progress(f"{target.name}: validating on {request.validate_images} images")
            parity = measure_parity(work, manifest, p.loaded, request.validate_images, threads=request.threads,
                                    cosine_threshold=target.cosine_threshold, ref=p.reference)
            if not parity.passed:
                raise ValidationFailed(describe_failure(manifest, parity) + "; nothing was written")
            write_manifest(work, manifest.model_copy(update={"parity": parity}))
    progress(f"{target.name}: wrote {final}")
    return final


def _groups(targets: list[tuple[Target, TargetOptions]]) -> list[list[str]]:
    """Target names grouped by work_group (request order inside a group), costliest group first."""
    groups: dict[str, list[Target]] = {}
    for target, _ in targets:
        groups.setdefault(target.work_group or target.name, []).append(target)
    ordered = sorted(groups.values(), key=lambda g: -sum(t.export_cost for t in g))
    return [[t.name for t in g] for g in ordered]


def export_outcomes(request: ExportRequest, progress: Callable[[str], None] = lambda m: None) -> list[Outcome]:
    """Export to every target, in request order: each target's artifact, or the error it failed with.

    Bad input (an unknown target or option, a model that cannot load or whose reference is constant) raises
    before any target starts. Target groups run side by side in forked workers (export_pool) when there
    is more than one group and more than one job; each artifact is validated before it is renamed into place."""
    targets = _checked_targets(request)
    groups = _groups(targets)
    jobs = export_pool.job_count(request.jobs, len(groups))
    prepared = _prepare(request, progress)
    by_name = dict((t.name, (t, o)) for t, o in targets)

    def work(name: str, report: Callable[[str], None]) -> Path:
        target, options = by_name[name]
        return _export_one(target, options, prepared, request, report)

    unsafe = export_pool.fork_unsafe_reason()
    if jobs == 1 or unsafe:
        if jobs > 1:
            progress(f"exporting {len(groups)} target groups one after another: {unsafe}")
        outcomes = export_pool.run_in_process(groups, work, progress)
    else:
        progress(f"exporting {len(groups)} target groups in {jobs} worker processes")
        threads = max(1, export_pool.usable_cores() // jobs)
        outcomes = export_pool.run_forked(groups, work, jobs, progress, threads)
    order = {t.name: i for i, (t, _) in enumerate(targets)}
    return sorted(outcomes, key=lambda o: order[o.target])


def export(request: ExportRequest, progress: Callable[[str], None] = lambda m: None) -> list[Path]:
    """Export to every target; the artifact dirs in request order. When a target failed, its error is
    raised once every target has finished (the ones that passed are written)."""
    outcomes = export_outcomes(request, progress)
    for o in outcomes:
        if o.error is not None:
            raise o.error
    return [o.path for o in outcomes]
