"""Runs a .pte through ExecuTorch's Python runtime (the same C++ runtime and delegates a phone links)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge_export.artifacts import Manifest, program_path
from edge_export.errors import EdgeExportError
from edge_export.runtimes.base import Runner


def set_executorch_threads(threads: int) -> None:
    """XNNPACK's pool is process-global and ignores torch.set_num_threads."""
    from executorch.extension.pybindings import portable_lib

    portable_lib._unsafe_reset_threadpool(int(threads))


def load_executorch_program(path: Path, enable_etdump: bool = False, debug_buffer_size: int = 0):
    from executorch.runtime import Runtime

    try:
        program = Runtime.get().load_program(path, enable_etdump=enable_etdump, debug_buffer_size=debug_buffer_size)
        method = program.load_method("forward")
    except Exception as e:
        msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise EdgeExportError(f"ExecuTorch cannot load {path} ({msg}): the file is not a valid .pte for this runtime; re-export it") from None
    if method is None:
        raise EdgeExportError(f"{path} has no 'forward' method: re-export it with edge-export")
    return program, method


class ExecuTorchRunner(Runner):
    runtime = "executorch"

    def __init__(self, artifact_dir: Path, manifest: Manifest, threads: int, enable_etdump: bool = False):
        super().__init__(artifact_dir, manifest, threads)
        set_executorch_threads(threads)
        self.path = program_path(artifact_dir, manifest)
        self.program, self.method = load_executorch_program(self.path, enable_etdump=enable_etdump)

    def run_raw(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs = self.method.execute([torch.from_numpy(np.ascontiguousarray(a)) for a in inputs])
        return [o.detach().numpy() if isinstance(o, torch.Tensor) else np.asarray(o) for o in outs]
