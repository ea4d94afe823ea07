"""The export API: model + targets -> validated artifact directories."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import torch

from edge_export.artifacts import Manifest, sha256_file, staging_dir, write_manifest
from edge_export.errors import EdgeExportError, ExportFailed, ValidationFailed
from edge_export.models import LoadedModel, load_model
from edge_export.models.export_form import export_form
from edge_export.targets import ExportContext, get_target
from edge_export.validate import describe_failure, measure_parity

_PACKAGES = ["edge-export", "torch", "executorch", "torchao", "litert-torch", "ai-edge-litert", "transformers", "numpy"]


def package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


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
    image_size: int | None = None
    validate_images: int = 8
    threads: int = 1


def export(request: ExportRequest, progress: Callable[[str], None] = lambda m: None) -> list[Path]:
    """Export to every target; each artifact is validated before it is renamed into place."""
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
    for t in targets:
        t.check_available({k: v for k, v in request.target_options.items() if k in t.accepted_options})
    loaded = request.model
    if not isinstance(loaded, LoadedModel):
        options = dict(request.model_options)
        if request.image_size:
            options["image_size"] = request.image_size
        progress(f"loading {loaded}")
        loaded = load_model(loaded, request.checkpoint, request.seed, options)
    elif request.image_size:
        loaded.preprocessing = loaded.preprocessing.model_copy(update={"image_size": request.image_size})
    module, rewrites = export_form(loaded)
    sample = torch.zeros(loaded.input_shape())
    params, flops = loaded.param_count(), loaded.flops()
    written = []
    for target in targets:
        final = Path(request.out_dir) / artifact_name(loaded.model_id, target.name)
        with staging_dir(final) as work:
            ctx = ExportContext(
                workdir=work,
                calib=request.calib,
                seed=request.seed,
                options={k: v for k, v in request.target_options.items() if k in target.accepted_options},
                progress=lambda m, t=target.name: progress(f"{t}: {m}"),
            )
            start = time.perf_counter()
            try:
                result = target.export(module, loaded, sample, ctx)
            except EdgeExportError:
                raise
            except Exception as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                raise ExportFailed(f"{target.name} export of {loaded.model_id} failed: {type(e).__name__}: {first}") from e
            seconds = time.perf_counter() - start
            program = work / result.program_file
            manifest = Manifest(
                model_id=loaded.model_id,
                source=loaded.source,
                target=target.name,
                runtime=target.runtime,
                program_file=result.program_file,
                file_sha256=sha256_file(program),
                file_bytes=program.stat().st_size,
                inputs=result.inputs,
                outputs=result.outputs,
                preprocessing=loaded.preprocessing,
                labels=loaded.labels,
                num_classes=loaded.num_classes,
                params=params,
                flops=flops,
                rewrites=rewrites,
                package_versions=package_versions(),
                export_seconds=round(seconds, 2),
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                delegation=result.delegation,
                etrecord_file=result.etrecord_file,
                target_options=result.target_options,
                notes=loaded.notes + result.notes,
            )
            write_manifest(work, manifest)
            if request.validate_images > 0:
                progress(f"{target.name}: validating on {request.validate_images} images")
                parity = measure_parity(
                    work, manifest, loaded, request.validate_images, threads=request.threads,
                    cosine_threshold=target.cosine_threshold,
                )
                if not parity.passed:
                    raise ValidationFailed(describe_failure(manifest, parity) + "; nothing was written")
                write_manifest(work, manifest.model_copy(update={"parity": parity}))
        progress(f"{target.name}: wrote {final}")
        written.append(final)
    return written
