"""The same .tflite on the host's x86 kernels and on the Arm guest's, with seeded inputs: `edge-export arm run` and
the tests. Not the product's validation (that feeds preprocessed images and applies its parity bars)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def random_inputs(model_path: str | Path, seed: int = 0) -> list[np.ndarray]:
    """One seeded tensor per model input: N(0,1) for float inputs, the full range for integer ones."""
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(seed)
    out = []
    for d in Interpreter(model_path=str(model_path)).get_input_details():
        dtype, shape = np.dtype(d["dtype"]), tuple(int(s) for s in d["shape"])
        if dtype.kind == "f":
            out.append(rng.standard_normal(shape).astype(dtype))
        else:
            info = np.iinfo(dtype)
            out.append(rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype))
    return out


def run_host(model_path: str | Path, inputs: list[np.ndarray], threads: int = 1) -> list[np.ndarray]:
    """The host run of the file with LiteRT's defaults (XNNPACK on x86), as the guest runs it."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(model_path), num_threads=threads)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def parity(arm: np.ndarray, host: np.ndarray) -> dict:
    """cosine, max |diff| and whether the argmax agrees, on the outputs as float64."""
    a, b = np.asarray(arm, np.float64).ravel(), np.asarray(host, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cosine = float(a @ b / (na * nb)) if na and nb else float(np.array_equal(a, b))
    return {"cosine": cosine, "max_abs": float(np.abs(a - b).max()) if a.size else 0.0,
            "argmax_match": bool(a.size and a.argmax() == b.argmax())}
