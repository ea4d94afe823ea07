"""What a runtime is, and the registry every runtime folder adds itself to.

A runtime (ExecuTorch, LiteRT, ExecuTorch + QNN, ...) runs the artifacts of its targets. It is one
folder in `edge_export/runtimes/` whose `__init__.py` defines a `Runtime` subclass decorated with
`@register_runtime`; `edge_export.runtimes` imports every such folder, so no list elsewhere names
runtimes. A manifest's `runtime` field must name a registered runtime.

Its parts are imported only when used (a runtime's `__init__` must stay light: no torch, no runtime
library), so listing runtimes or reading a manifest costs nothing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from edge_export.errors import EdgeExportError

if TYPE_CHECKING:
    from edge_export.artifacts import Manifest
    from edge_export.profile.schema import Profile
    from edge_export.runtimes.base import Runner


class Runtime:
    """One runtime: its runner, its profilers (by where they run) and its numeric-gap hook."""

    name: ClassVar[str]  # the manifest's `runtime` value
    description: ClassVar[str] = ""
    # True when the runtime's thread pool belongs to the process, not to a loaded program (ExecuTorch's
    # XNNPACK pool): one process then serves one thread count at a time (benchmarks/worker.py).
    process_global_threads: ClassVar[bool] = False
    # Where `profile --device` can run this runtime's artifacts ("host", "adb"), each with the module
    # whose `collect(request)` profiles there; imported only when used.
    profilers: ClassVar[dict[str, str]] = {}

    # "module:Class" of the runner (edge_export.runtimes.base.Runner) that runs this runtime's artifacts.
    runner: ClassVar[str] = ""

    def open_runner(self, artifact_dir: Path, manifest: "Manifest", threads: int, **kw) -> "Runner":
        module, _, cls = self.runner.partition(":")
        return getattr(importlib.import_module(module), cls)(artifact_dir, manifest, threads, **kw)

    def collect(self, where: str, request) -> "Profile":
        """Per-op profile of the request's artifact on `where` ("host" or "adb")."""
        module = self.profilers.get(where)
        if module is None:
            raise EdgeExportError(f"no {where} profiler for runtime {self.name!r}")
        return importlib.import_module(module).collect(request)

    def check_numeric_gap(self, artifact_dir: Path, manifest: "Manifest") -> None:
        """Raise a one-line EdgeExportError when `profile --numeric-gap` cannot run on this artifact."""
        raise EdgeExportError(
            f"--numeric-gap is not supported for {self.name} artifacts ({manifest.target}): "
            "it supports ExecuTorch/XNNPACK and TFLite artifacts"
        )

    def numeric_gap_program(self, artifact_dir: Path, manifest: "Manifest", hooks, threads: int, sample,
                            progress: Callable[[str], None]):
        """The artifact's program made to return its module outputs (edge_export.profile.numeric_gap)."""
        raise NotImplementedError

    def etdump_rows(self, artifact_dir: Path, manifest: "Manifest", etdump: Path, skip_runs: int) -> Any:
        """(rows, notes) from an ETDump of this runtime's program (the Android app writes one), or None."""
        return None


_RUNTIMES: dict[str, Runtime] = {}


def register_runtime(cls: type[Runtime]) -> type[Runtime]:
    if cls.name in _RUNTIMES:
        raise ValueError(f"runtime {cls.name} registered twice")
    _RUNTIMES[cls.name] = cls()
    return cls


def runtime_names() -> list[str]:
    _discover()
    return sorted(_RUNTIMES)


def get_runtime(name: str) -> Runtime:
    _discover()
    runtime = _RUNTIMES.get(name)
    if runtime is None:
        raise EdgeExportError(
            f"unknown runtime {name!r}: this edge-export runs {', '.join(sorted(_RUNTIMES))} (upgrade it, or re-export)"
        )
    return runtime


def list_runtimes() -> list[Runtime]:
    _discover()
    return [_RUNTIMES[n] for n in sorted(_RUNTIMES)]


_discovered = False


def _discover() -> None:
    """Import every runtime folder (each registers itself)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    import edge_export.runtimes as pkg
    from edge_export.discovery import import_submodules

    import_submodules(pkg, folders_only=True)
