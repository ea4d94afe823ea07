"""Runtimes: one folder each (runner, profilers, numeric-gap hook), registered and found by discovery.

`Runner` is imported on first use (module __getattr__): base.py pulls pydantic through artifacts.py, and the
LiteRT profiler's child (runtimes/litert/profile_child.py) also runs in the aarch64 guest under QEMU
(edge_export/arm), whose Python has only numpy, flatbuffers and ai_edge_litert.
"""

from __future__ import annotations

from pathlib import Path

from edge_export.runtimes.registry import Runtime, get_runtime, list_runtimes, register_runtime, runtime_names


def open_runner(artifact_dir: Path, manifest=None, threads: int = 1, **kw):
    """The artifact loaded in its real runtime (program file checked against its manifest first)."""
    from edge_export.artifacts import check_program_file, read_manifest

    manifest = manifest or read_manifest(artifact_dir)
    check_program_file(artifact_dir, manifest)
    return get_runtime(manifest.runtime).open_runner(artifact_dir, manifest, threads, **kw)


def __getattr__(name: str):
    if name == "Runner":
        from edge_export.runtimes.base import Runner

        return Runner
    raise AttributeError(f"module 'edge_export.runtimes' has no attribute {name!r}")


__all__ = ["Runner", "Runtime", "get_runtime", "list_runtimes", "open_runner", "register_runtime", "runtime_names"]
