"""Runs a .tflite through LiteRT's Python Interpreter: the TFLite kernels and XNNPACK delegate a phone links.

Threads are always explicit: the Interpreter's num_threads=None silently means 1.

Bad files: the Python Interpreter verifies the flatbuffer before building the graph (truncated or
garbage files raise "not a valid Flatbuffer buffer"; docs/measurements.md "Runtimes"), but the C/C++ `FromFile` paths skip that check and can
crash, so the "TFL3" file identifier is checked here first and every loader error becomes one line.

`smoke_run` invokes a model on real inputs in a child process (`smoke` there, through edge_export.child),
so a kernel that aborts or segfaults fails an export with the op named instead of killing it.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

from edge_export.artifacts import Manifest, program_path
from edge_export.errors import EdgeExportError, ExportFailed, first_line
from edge_export.runtimes.base import Runner

TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite
_NODE_FAILED = re.compile(r"Node number (\d+) \((\w+)\) failed")


class InvokeFailed(EdgeExportError):
    """A model loaded but an op failed while running it."""

    exit_code = 1


def check_tflite_file(path: Path) -> None:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise EdgeExportError(f"cannot read {path}: {e.strerror}") from None
    if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
        raise EdgeExportError(
            f"{path} is not a TFLite model (no 'TFL3' identifier at byte 4; {path.stat().st_size} bytes): re-export it"
        )


def load_interpreter(path: Path, threads: int, xnnpack: bool = True):
    """An allocated Interpreter; xnnpack=False runs TFLite's builtin kernels only (no default delegate)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise EdgeExportError(f"threads must be a positive integer (got {threads!r})")
    check_tflite_file(path)
    kwargs = {} if xnnpack else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads, **kwargs)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        msg = first_line(e)
        raise EdgeExportError(f"LiteRT cannot load {path} ({msg}): not a valid .tflite for this runtime; re-export it") from None
    return interpreter


def short_tensor_name(name: str) -> str:
    """litert-torch names tensors by class-qualified module path; keep `Class_attr` segments of the first name."""
    first = name.split(";")[0]
    return "/".join(seg.rsplit(".", 1)[-1] for seg in first.split("/") if seg)


def describe_invoke_error(interpreter, error: Exception) -> dict:
    """{op_index, op, tensor, message} from an Invoke error ('...Node number 29 (DIV) failed to invoke.')."""
    text = str(error)
    m = _NODE_FAILED.search(text)
    kernel_msg = text[: m.start()].strip() if m else text.strip()
    # TFLite's error reporter accumulates: keep the first report only.
    kernel_msg = kernel_msg.split("Node number")[0].strip().rstrip(".") or "no kernel message"
    out = {"op_index": None, "op": None, "tensor": None, "message": kernel_msg[:200]}
    if m:
        index = int(m.group(1))
        out.update(op_index=index, op=m.group(2))
        try:
            outputs = interpreter._get_op_details(index)["outputs"]
            out["tensor"] = short_tensor_name(interpreter._get_tensor_details(int(outputs[0]), 0)["name"])
        except Exception:
            pass
    return out


def failure_text(info: dict) -> str:
    if info.get("op") is None:
        return info.get("message", "unknown failure")
    where = f" ({info['tensor']})" if info.get("tensor") else ""
    return f"op #{info['op_index']} {info['op']}{where}: {info['message']}"


class LiteRTRunner(Runner):
    runtime = "litert"

    def __init__(self, artifact_dir: Path, manifest: Manifest, threads: int, xnnpack: bool = True):
        super().__init__(artifact_dir, manifest, threads)
        self.path = program_path(artifact_dir, manifest)
        self.interpreter = load_interpreter(self.path, threads, xnnpack)
        self._inputs = self.interpreter.get_input_details()
        self._outputs = self.interpreter.get_output_details()
        for kind, details, specs in (("input", self._inputs, manifest.inputs), ("output", self._outputs, manifest.outputs)):
            got = [(list(map(int, d["shape"])), np.dtype(d["dtype"]).name) for d in details]
            want = [(s.shape, s.dtype) for s in specs]
            if got != want:
                raise EdgeExportError(f"{self.path} {kind}s {got} do not match its manifest {want}: re-export the artifact")

    def run_raw(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for d, a in zip(self._inputs, inputs):
            self.interpreter.set_tensor(d["index"], np.ascontiguousarray(a))
        try:
            self.interpreter.invoke()
        except RuntimeError as e:
            info = describe_invoke_error(self.interpreter, e)
            raise InvokeFailed(f"{self.path} failed at run time in {failure_text(info)}") from None
        return [self.interpreter.get_tensor(d["index"]).copy() for d in self._outputs]

    def close(self) -> None:
        self.interpreter = None


def smoke_run(model: Path, inputs: np.ndarray, what: str = "the model", timeout: float = 900) -> dict:
    """Invoke `model` on each inputs[i] (program layout and dtype, no batch dim), with XNNPACK and with builtin
    kernels, in a child process (edge_export.child). Returns {"runs": n}; raises ExportFailed naming the op that
    failed, or the signal when the runtime crashed without naming one."""
    from edge_export.child import ChildFailed, call, signal_name

    with tempfile.TemporaryDirectory(prefix="litert-smoke-") as tmp:
        npy = Path(tmp) / "inputs.npy"
        np.save(npy, np.ascontiguousarray(inputs))
        try:
            result = call("edge_export.runtimes.litert.runner:smoke", {"model": str(model), "inputs": str(npy)},
                          what=f"the LiteRT smoke run of {what}", timeout=timeout)
        except ChildFailed as e:
            sig = signal_name(e.returncode)
            if sig:
                raise ExportFailed(f"{what} crashed the LiteRT interpreter ({sig}) on a calibration image: "
                                   "the runtime named no op") from None
            if "timed out" in str(e):
                raise ExportFailed(f"{what} did not finish {2 * len(inputs)} runs in {timeout:.0f} s") from None
            raise ExportFailed(str(e)) from None
    if result.get("failure"):
        f = result["failure"]
        raise ExportFailed(
            f"{what} fails at run time with {f['kernels']} kernels on calibration image {f['image']}: {failure_text(f)}"
        )
    return result


def smoke(request: dict) -> dict:
    """Child side of smoke_run: {"runs": n}, or {"failure": {kernels, image, op_index, op, tensor, message}}."""
    inputs = np.load(request["inputs"])
    for kernels, xnnpack in (("XNNPACK", True), ("builtin", False)):
        interpreter = load_interpreter(Path(request["model"]), 1, xnnpack)
        detail = interpreter.get_input_details()[0]
        for i, x in enumerate(inputs):
            interpreter.set_tensor(detail["index"], x[None])
            try:
                interpreter.invoke()
            except RuntimeError as e:
                return {"failure": {"kernels": kernels, "image": i, **describe_invoke_error(interpreter, e)}}
    return {"runs": 2 * len(inputs)}
