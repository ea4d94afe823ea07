"""A runner loads an artifact in its real runtime and maps NCHW float images to float logits.

It owns the conversions the manifest describes (NHWC layout, int8 input/output quantization), so
validate, profile and benchmarks all feed an artifact exactly what its export expects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_export.artifacts import Manifest, TensorSpec


class Runner:
    runtime: str

    def __init__(self, artifact_dir: Path, manifest: Manifest, threads: int):
        self.artifact_dir = Path(artifact_dir)
        self.manifest = manifest
        self.threads = threads

    def run_raw(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """One invocation with inputs already in the program's own layout and dtype."""
        raise NotImplementedError

    def prepare_input(self, x_nchw: np.ndarray) -> np.ndarray:
        return to_program_input(x_nchw, self.manifest.inputs[0])

    def logits(self, x_nchw: np.ndarray) -> np.ndarray:
        out = self.run_raw([self.prepare_input(x_nchw)])[0]
        return from_program_output(out, self.manifest.outputs[0])

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def to_program_input(x_nchw: np.ndarray, spec: TensorSpec) -> np.ndarray:
    x = np.asarray(x_nchw, dtype=np.float32)
    if spec.layout == "NHWC":
        x = x.transpose(0, 2, 3, 1)
    if spec.quantization is not None:
        q = spec.quantization
        info = np.iinfo(np.dtype(spec.dtype))
        x = np.clip(np.round(x / q.scale) + q.zero_point, info.min, info.max)
    return np.ascontiguousarray(x.astype(np.dtype(spec.dtype)))


def from_program_output(y: np.ndarray, spec: TensorSpec) -> np.ndarray:
    y = np.asarray(y)
    if spec.quantization is not None:
        q = spec.quantization
        return (y.astype(np.float32) - q.zero_point) * q.scale
    return y.astype(np.float32)
