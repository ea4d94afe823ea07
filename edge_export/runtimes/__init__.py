"""Runners by runtime name; a new runtime is one file plus one line here."""

from __future__ import annotations

from pathlib import Path

from edge_export.artifacts import Manifest, check_program_file, read_manifest
from edge_export.errors import EdgeExportError
from edge_export.runtimes.base import Runner


def _executorch(artifact_dir, manifest, threads, **kw):
    from edge_export.runtimes.executorch.runner import ExecuTorchRunner

    return ExecuTorchRunner(artifact_dir, manifest, threads, **kw)


RUNNERS = {
    "executorch": _executorch,
    "litert": lambda *args, **kw: __import__("edge_export.runtimes.litert.runner", fromlist=["LiteRTRunner"]).LiteRTRunner(*args, **kw),
    "executorch-qnn": lambda *args, **kw: __import__("edge_export.runtimes.qnn.runner", fromlist=["QnnRunner"]).QnnRunner(*args, **kw),
}


def open_runner(artifact_dir: Path, manifest: Manifest | None = None, threads: int = 1, **kw) -> Runner:
    manifest = manifest or read_manifest(artifact_dir)
    check_program_file(artifact_dir, manifest)
    factory = RUNNERS.get(manifest.runtime)
    if factory is None:
        raise EdgeExportError(f"no runner for runtime {manifest.runtime!r} in this edge-export: upgrade it")
    return factory(artifact_dir, manifest, threads, **kw)


__all__ = ["RUNNERS", "Runner", "open_runner"]
