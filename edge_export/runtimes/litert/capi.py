"""Run a ``.tflite`` model through the LiteRT C API with the built-in profiler on.

The ``ai-edge-litert`` 2.3.x wheel ships ``libLiteRt.so``, which exports the LiteRT C API
(``CompiledModel``, tensor buffers, and a per-op profiler). The Python ``Interpreter`` of the same
wheel has no profiler, so this module drives the C library through :mod:`ctypes`:

    environment -> model (from a verified in-memory copy of the file) -> options
    (CPU accelerator; opaque "runtime_options_string" ``enable_profiling = true``; opaque
    "xnnpack" CPU options ``kernel_mode`` / ``num_threads``) -> compiled model -> its profiler
    -> host-memory tensor buffers (64-byte aligned) -> run.

Every declaration below was checked against the headers of google-ai-edge/LiteRT at the
commit that bumped the SDK to 2.3.0 (19a1585ff, 2026-08-14) and the runtime sources it
builds, and against ``nm -D`` of the wheel's ``libLiteRt.so``:

* ``litert/c/litert_profiler_event.h`` ``ProfiledEventData`` (104 bytes on LP64)::

      const char* tag; LiteRtProfilerEventType event_type;   // 0, 8
      uint64_t start_timestamp_us; uint64_t elapsed_time_us;   // 16, 24
      LiteRtMemoryUsage begin_mem_usage, end_mem_usage;        // 32, 56 (3 x size_t each)
      uint64_t event_metadata1, event_metadata2;               // 80, 88
      ProfiledEventSource event_source;                        // 96

* ``litert/c/litert_layout.h`` ``LiteRtLayout`` (68 bytes: ``unsigned rank:7, has_strides:1;
  int32 dimensions[8]; uint32 strides[8]``) inside ``LiteRtRankedTensorType`` (72 bytes).
* ``LiteRtCreateOpaqueOptions`` rejects a NULL destructor, so payloads are ``malloc``-ed C
  strings with libc ``free`` as destructor; ``LiteRtAddOpaqueOptions`` hands ownership to the
  options, ``LiteRtDestroyOptions`` frees the chain.
* The CPU options identifier the 2.3.0 runtime reads is ``"xnnpack"`` (``cpu_delegate`` in newer
  sources is ignored by this build; the builtin-mode check in :meth:`LiteRtProfiledModel.profile`
  catches a silent change).

Behaviour that matters for the numbers (from ``litert/runtime/profiler.cc``, observed here):

* ``LiteRtStartProfiler`` clears the event buffer (a fixed 512 Ki-entry ring buffer that
  overwrites silently when full). Each profiled run is therefore bracketed by Reset/Start ...
  Stop and read on its own, so events are grouped per run exactly, whatever their number.
* ``elapsed_time_us`` is whole microseconds. XNNPACK per-node events
  (``DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT``, ``event_metadata1`` = XNNPACK node index) are
  added after the fact: ``start_timestamp_us`` is 0 and their memory fields are not set.
  Builtin-kernel events (``OPERATOR_INVOKE_EVENT``) carry the TFLite op index in
  ``event_metadata1`` and the subgraph index in ``event_metadata2``.
* Each run also yields ``DEFAULT`` events ``LiteRT::Run[buffer registration]``, ``Invoke``,
  ``LiteRT::Run[Buffer sync]`` (plus ``AllocateTensors`` on the first run), and a
  ``TELEMETRY_EVENT`` "Invoke" whose ``elapsed_time_us`` is a status code, not a time.
* ``event_source`` is only attributed for begin/end events; added events read ``LITERT``.
* ``LiteRtCreateModelFromFile`` does NOT verify the flatbuffer (a truncated file segfaults in
  2.3.0), while ``LiteRtCreateModelFromBuffer`` does. The file is therefore read into an aligned
  buffer (kept alive as long as the model) and loaded from there.

Not thread-safe: use one :class:`LiteRtProfiledModel` from one thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = [
    "LiteRtError",
    "LiteRtProfiledModel",
    "LiteRtProfile",
    "OpEvent",
    "MemoryUsage",
    "TensorInfo",
    "KERNEL_MODES",
    "library_path",
]

# --------------------------------------------------------------------------------------------
# Constants from the 2.3.0 headers.

TFLITE_FILE_IDENTIFIER = b"TFL3"  # bytes 4:8 of every TFLite flatbuffer
HOST_MEMORY_ALIGNMENT = 64  # LITERT_HOST_MEMORY_BUFFER_ALIGNMENT
_HW_ACCELERATOR_CPU = 1  # kLiteRtHwAcceleratorCpu
_RANKED_TENSOR_TYPE = 0  # kLiteRtRankedTensorType
_MAX_RANK = 8  # LITERT_TENSOR_MAX_RANK
_RUNTIME_OPTIONS_ID = b"runtime_options_string"  # LiteRtRuntimeOptionsT::Identifier()
_CPU_OPTIONS_ID = b"xnnpack"  # identifier the 2.3.0 runtime reads for CPU options
_ERROR_REPORTER_MODE_BUFFER = 2  # kLiteRtErrorReporterModeBuffer

KERNEL_MODES = ("delegate", "builtin", "reference")

_STATUS_NAMES = {
    0: "kLiteRtStatusOk",
    1: "kLiteRtStatusErrorInvalidArgument",
    2: "kLiteRtStatusErrorMemoryAllocationFailure",
    3: "kLiteRtStatusErrorRuntimeFailure",
    4: "kLiteRtStatusErrorMissingInputTensor",
    5: "kLiteRtStatusErrorUnsupported",
    6: "kLiteRtStatusErrorNotFound",
    7: "kLiteRtStatusErrorTimeoutExpired",
    8: "kLiteRtStatusErrorWrongVersion",
    9: "kLiteRtStatusErrorUnknown",
    10: "kLiteRtStatusErrorAlreadyExists",
    100: "kLiteRtStatusCancelled",
    500: "kLiteRtStatusErrorFileIO",
    501: "kLiteRtStatusErrorInvalidFlatbuffer",
    502: "kLiteRtStatusErrorDynamicLoading",
    503: "kLiteRtStatusErrorSerialization",
    504: "kLiteRtStatusErrorCompilation",
    1000: "kLiteRtStatusErrorIndexOOB",
    1001: "kLiteRtStatusErrorInvalidIrType",
    1002: "kLiteRtStatusErrorInvalidGraphInvariant",
    1003: "kLiteRtStatusErrorGraphModification",
    1500: "kLiteRtStatusErrorInvalidToolConfig",
    2000: "kLiteRtStatusLegalizeNoMatch",
    2001: "kLiteRtStatusErrorInvalidLegalization",
    3000: "kLiteRtStatusPatternNoMatch",
    3001: "kLiteRtStatusInvalidTransformation",
    4000: "kLiteRtStatusErrorUnsupportedRuntimeVersion",
    4001: "kLiteRtStatusErrorUnsupportedCompilerVersion",
    4002: "kLiteRtStatusErrorIncompatibleByteCodeVersion",
    5000: "kLiteRtStatusErrorUnsupportedOpShapeInferer",
    5001: "kLiteRtStatusErrorShapeInferenceFailed",
}

# LiteRtProfilerEventType (bit flags, one set per event).
EVENT_DEFAULT = 1
EVENT_OPERATOR_INVOKE = 1 << 1
EVENT_DELEGATE_OPERATOR_INVOKE = 1 << 2
EVENT_DELEGATE_PROFILED_OPERATOR_INVOKE = 1 << 3
EVENT_GENERAL_RUNTIME_INSTRUMENTATION = 1 << 4
_EVENT_TYPE_NAMES = {
    EVENT_DEFAULT: "DEFAULT",
    EVENT_OPERATOR_INVOKE: "OPERATOR_INVOKE_EVENT",
    EVENT_DELEGATE_OPERATOR_INVOKE: "DELEGATE_OPERATOR_INVOKE_EVENT",
    EVENT_DELEGATE_PROFILED_OPERATOR_INVOKE: "DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT",
    EVENT_GENERAL_RUNTIME_INSTRUMENTATION: "GENERAL_RUNTIME_INSTRUMENTATION_EVENT",
    1 << 5: "TELEMETRY_EVENT",
    1 << 6: "TELEMETRY_REPORT_SETTINGS",
    1 << 7: "TELEMETRY_DELEGATE_EVENT",
    1 << 8: "TELEMETRY_DELEGATE_REPORT_SETTINGS",
}
_TELEMETRY_MASK = (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8)
_EVENT_SOURCE_NAMES = {0: "LITERT", 1: "TFLITE_INTERPRETER", 2: "TFLITE_DELEGATE"}

# LiteRtElementType -> numpy dtype name (the types a host buffer can hold as a numpy array).
_ELEMENT_TYPES = {
    1: "float32",
    2: "int32",
    3: "uint8",
    4: "int64",
    6: "bool",
    7: "int16",
    9: "int8",
    10: "float16",
    11: "float64",
    13: "uint64",
    16: "uint32",
    17: "uint16",
    8: "complex64",
    12: "complex128",
}

_TAG_INDEX_RE = re.compile(r":(\d+)$")


class LiteRtError(ValueError):
    """The LiteRT C API refused a model or a call; the message is one line with the status name."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(" ".join(str(message).split()))
        self.status = status
        self.status_name = None if status is None else _status_name(status)


def _status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, f"LiteRtStatus({status})")


# --------------------------------------------------------------------------------------------
# ctypes declarations.

_p = ctypes.c_void_p
_pp = ctypes.POINTER(ctypes.c_void_p)
_size = ctypes.c_size_t
_status = ctypes.c_int


class _LiteRtLayout(ctypes.Structure):
    _fields_ = [
        ("rank", ctypes.c_uint, 7),
        ("has_strides", ctypes.c_uint, 1),
        ("dimensions", ctypes.c_int32 * _MAX_RANK),
        ("strides", ctypes.c_uint32 * _MAX_RANK),
    ]


class _LiteRtRankedTensorType(ctypes.Structure):
    _fields_ = [("element_type", ctypes.c_int), ("layout", _LiteRtLayout)]


class _LiteRtMemoryUsage(ctypes.Structure):
    _fields_ = [
        ("total_allocated_bytes", ctypes.c_size_t),
        ("in_use_allocated_bytes", ctypes.c_size_t),
        ("private_footprint_bytes", ctypes.c_size_t),
    ]


class _ProfiledEventData(ctypes.Structure):
    _fields_ = [
        ("tag", ctypes.c_char_p),
        ("event_type", ctypes.c_int),
        ("start_timestamp_us", ctypes.c_uint64),
        ("elapsed_time_us", ctypes.c_uint64),
        ("begin_mem_usage", _LiteRtMemoryUsage),
        ("end_mem_usage", _LiteRtMemoryUsage),
        ("event_metadata1", ctypes.c_uint64),
        ("event_metadata2", ctypes.c_uint64),
        ("event_source", ctypes.c_int),
    ]


# The static_asserts of the C headers, for LP64.
assert ctypes.sizeof(_LiteRtLayout) == 68 and _LiteRtLayout.dimensions.offset == 4
assert _LiteRtLayout.strides.offset == 36
assert ctypes.sizeof(_LiteRtRankedTensorType) == 72 and _LiteRtRankedTensorType.layout.offset == 4
assert ctypes.sizeof(_ProfiledEventData) == 104
assert _ProfiledEventData.event_metadata1.offset == 80
assert _ProfiledEventData.event_source.offset == 96

# name -> (restype, argtypes). Only what this module calls; all exported by libLiteRt.so 2.3.0.
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "LiteRtCreateEnvironment": (_status, [ctypes.c_int, _p, _pp]),
    "LiteRtDestroyEnvironment": (None, [_p]),
    "LiteRtCreateModelFromBuffer": (_status, [_p, _p, _size, _pp]),
    "LiteRtDestroyModel": (None, [_p]),
    "LiteRtGetNumModelSignatures": (_status, [_p, ctypes.POINTER(_size)]),
    "LiteRtGetModelSignature": (_status, [_p, _size, _pp]),
    "LiteRtGetSignatureKey": (_status, [_p, ctypes.POINTER(ctypes.c_char_p)]),
    "LiteRtGetNumSignatureInputs": (_status, [_p, ctypes.POINTER(_size)]),
    "LiteRtGetNumSignatureOutputs": (_status, [_p, ctypes.POINTER(_size)]),
    "LiteRtGetSignatureInputName": (_status, [_p, _size, ctypes.POINTER(ctypes.c_char_p)]),
    "LiteRtGetSignatureOutputName": (_status, [_p, _size, ctypes.POINTER(ctypes.c_char_p)]),
    "LiteRtGetSignatureInputTensorByIndex": (_status, [_p, _size, _pp]),
    "LiteRtGetSignatureOutputTensorByIndex": (_status, [_p, _size, _pp]),
    "LiteRtGetTensorTypeId": (_status, [_p, ctypes.POINTER(ctypes.c_int)]),
    "LiteRtGetRankedTensorType": (_status, [_p, ctypes.POINTER(_LiteRtRankedTensorType)]),
    "LiteRtCreateOptions": (_status, [_pp]),
    "LiteRtDestroyOptions": (None, [_p]),
    "LiteRtSetOptionsHardwareAccelerators": (_status, [_p, ctypes.c_int]),
    "LiteRtCreateOpaqueOptions": (_status, [ctypes.c_char_p, _p, _p, _pp]),
    "LiteRtDestroyOpaqueOptions": (None, [_p]),
    "LiteRtAddOpaqueOptions": (_status, [_p, _p]),
    "LiteRtCreateCompiledModel": (_status, [_p, _p, _p, _pp]),
    "LiteRtDestroyCompiledModel": (None, [_p]),
    "LiteRtCompiledModelGetProfiler": (_status, [_p, _pp]),
    "LiteRtCompiledModelGetErrorMessages": (_status, [_p, _pp]),
    "LiteRtCreateTensorBufferFromHostMemory": (
        _status,
        [ctypes.POINTER(_LiteRtRankedTensorType), _p, _size, _p, _pp],
    ),
    "LiteRtDestroyTensorBuffer": (None, [_p]),
    "LiteRtRunCompiledModel": (_status, [_p, _size, _size, _pp, _size, _pp]),
    "LiteRtStartProfiler": (_status, [_p]),
    "LiteRtStopProfiler": (_status, [_p]),
    "LiteRtResetProfiler": (_status, [_p]),
    "LiteRtGetNumProfilerEvents": (_status, [_p, ctypes.POINTER(ctypes.c_int)]),
    "LiteRtGetProfilerEvents": (_status, [_p, ctypes.c_int, ctypes.POINTER(_ProfiledEventData)]),
    "LiteRtGetProfileSummary": (_status, [_p, _p, _pp]),
}

_lib_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_libc: ctypes.CDLL | None = None


def library_path() -> Path:
    """The ``libLiteRt.so`` of the installed ``ai_edge_litert`` package."""
    import ai_edge_litert

    return Path(ai_edge_litert.__file__).resolve().parent / "libLiteRt.so"


def _load() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    global _lib, _libc
    with _lib_lock:
        if _lib is not None and _libc is not None:
            return _lib, _libc
        import ai_edge_litert

        version = getattr(ai_edge_litert, "__version__", "?")
        if not str(version).startswith("2.3."):
            warnings.warn(
                f"edge_export.runtimes.litert.capi was verified against ai-edge-litert 2.3.x, found {version}",
                RuntimeWarning,
                stacklevel=3,
            )
        path = library_path()
        if not path.is_file():
            raise LiteRtError(f"libLiteRt.so not found at {path} (ai-edge-litert {version})")
        lib = ctypes.CDLL(str(path))
        missing = [name for name in _SIGNATURES if not hasattr(lib, name)]
        if missing:
            raise LiteRtError(f"{path} lacks C API symbols: {', '.join(missing)}")
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        libc.free.restype = None
        libc.free.argtypes = [ctypes.c_void_p]
        _lib, _libc = lib, libc
        return lib, libc


def _check(status: int, what: str, detail: str = "") -> None:
    if status != 0:
        extra = f": {detail}" if detail else ""
        raise LiteRtError(f"{what} failed with {_status_name(status)}{extra}", status)


# --------------------------------------------------------------------------------------------
# Public data types.


@dataclass(frozen=True)
class TensorInfo:
    """One signature input or output: its name, static shape and numpy dtype name."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return int(math.prod(self.shape)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class MemoryUsage:
    """``LiteRtMemoryUsage``; only set for begin/end events (zero or stale for added events)."""

    total_allocated_bytes: int
    in_use_allocated_bytes: int
    private_footprint_bytes: int


@dataclass(frozen=True)
class OpEvent:
    """One ``ProfiledEventData`` of one profiled run.

    ``name`` is the profiler's tag: the XNNPACK operator name in delegate mode (e.g.
    ``"Convolution (NHWC, F32) IGEMM"``; benchmark_model prints it as ``Delegate/<tag>:<idx>``,
    see :attr:`label`), the builtin op name in builtin mode (``"CONV_2D"``), or a runtime
    phase (``"Invoke"``, ``"LiteRT::Run[buffer registration]"``).
    ``op_index`` is the TFLite op index (``kind == "op"``) or the XNNPACK node index
    (``kind == "delegate_op"``), else None. ``elapsed_ms`` has the profiler's microsecond
    resolution; it is 0.0 for telemetry events, whose raw value (``raw_elapsed``) is a metric.
    """

    name: str
    op_index: int | None
    run: int
    elapsed_ms: float
    event_type: str
    kind: str  # "op" | "delegate_op" | "runtime" | "telemetry" | "other"
    seq: int  # position of the event within its run, in recording order
    start_us: int | None  # profiler clock; None where the profiler recorded none (0)
    raw_elapsed: int
    event_type_code: int
    event_source: str
    metadata1: int
    metadata2: int
    begin_mem: MemoryUsage
    end_mem: MemoryUsage

    @property
    def is_op(self) -> bool:
        return self.kind in ("op", "delegate_op")

    @property
    def label(self) -> str:
        """The row name LiteRT's profile summary / benchmark_model use for this event."""
        if self.kind == "delegate_op":
            return f"Delegate/{self.name}:{self.op_index}"
        if self.kind == "op":
            return f"{self.name}:{self.op_index}"
        return self.name


@dataclass
class LiteRtProfile:
    """Result of :meth:`LiteRtProfiledModel.profile`.

    ``whole_run_ms[r]`` is the wall time of run ``r`` measured around ``LiteRtRunCompiledModel``
    (includes LiteRT buffer registration and sync around the interpreter ``Invoke``).
    ``events`` holds every profiler event of every profiled run, in order, each tagged with
    its ``run``.
    """

    whole_run_ms: list[float]
    events: list[OpEvent]
    model_path: str = ""
    threads: int = 1
    kernel_mode: str = "delegate"
    warmup: int = 0
    summary: str | None = None  # LiteRtGetProfileSummary over all profiled runs, if asked for
    input_names: list[str] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return len(self.whole_run_ms)

    def run_events(self, run: int) -> list[OpEvent]:
        return [e for e in self.events if e.run == run]

    def op_events(self, run: int | None = None) -> list[OpEvent]:
        """Per-operator events (builtin ops and XNNPACK nodes), of one run or of all runs."""
        return [e for e in self.events if e.is_op and (run is None or e.run == run)]

    def op_sum_ms(self) -> list[float]:
        """Sum of the per-operator events, per run."""
        sums = [0.0] * self.runs
        for e in self.events:
            if e.is_op:
                sums[e.run] += e.elapsed_ms
        return sums

    def invoke_ms(self) -> list[float | None]:
        """The interpreter's own ``Invoke`` event (DEFAULT type) per run, if recorded."""
        out: list[float | None] = [None] * self.runs
        for e in self.events:
            if e.kind == "runtime" and e.name == "Invoke" and out[e.run] is None:
                out[e.run] = e.elapsed_ms
        return out


# --------------------------------------------------------------------------------------------


def _aligned_empty(nbytes: int) -> np.ndarray:
    """A uint8 array of ``nbytes`` (at least 1) whose data is HOST_MEMORY_ALIGNMENT-aligned."""
    n = max(int(nbytes), 1)
    raw = np.empty(n + HOST_MEMORY_ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % HOST_MEMORY_ALIGNMENT
    view = raw[offset : offset + n]
    assert view.ctypes.data % HOST_MEMORY_ALIGNMENT == 0
    return view


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def _memory_usage(m: _LiteRtMemoryUsage) -> MemoryUsage:
    return MemoryUsage(
        int(m.total_allocated_bytes), int(m.in_use_allocated_bytes), int(m.private_footprint_bytes)
    )


def _classify(event_type: int) -> str:
    if event_type == EVENT_OPERATOR_INVOKE:
        return "op"
    if event_type in (EVENT_DELEGATE_OPERATOR_INVOKE, EVENT_DELEGATE_PROFILED_OPERATOR_INVOKE):
        return "delegate_op"
    if event_type & _TELEMETRY_MASK:
        return "telemetry"
    if event_type in (EVENT_DEFAULT, EVENT_GENERAL_RUNTIME_INSTRUMENTATION):
        return "runtime"
    return "other"


def _read_model_bytes(path: Path) -> np.ndarray:
    """Read and pre-check a .tflite file; raise LiteRtError for anything that is not one."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise LiteRtError(
            f"cannot load {path}: kLiteRtStatusErrorFileIO (no such file)", 500
        ) from None
    except OSError as exc:
        raise LiteRtError(
            f"cannot load {path}: kLiteRtStatusErrorFileIO ({exc.strerror})", 500
        ) from None
    if not path.is_file():
        raise LiteRtError(f"cannot load {path}: kLiteRtStatusErrorFileIO (not a regular file)", 500)
    if size < 8:
        raise LiteRtError(
            f"cannot load {path}: kLiteRtStatusErrorInvalidFlatbuffer ({size} bytes is too short "
            "for a TFLite flatbuffer)",
            501,
        )
    buf = _aligned_empty(size)
    try:
        with open(path, "rb") as fh:
            got = fh.readinto(memoryview(buf))
    except OSError as exc:
        raise LiteRtError(
            f"cannot load {path}: kLiteRtStatusErrorFileIO ({exc.strerror})", 500
        ) from None
    if got != size:
        raise LiteRtError(f"cannot load {path}: kLiteRtStatusErrorFileIO (short read)", 500)
    ident = bytes(buf[4:8])
    if ident != TFLITE_FILE_IDENTIFIER:
        raise LiteRtError(
            f"cannot load {path}: kLiteRtStatusErrorInvalidFlatbuffer (file identifier "
            f"{ident!r} at offset 4, expected {TFLITE_FILE_IDENTIFIER!r}: not a .tflite model)",
            501,
        )
    return buf


def _check_external_buffers(buf: np.ndarray, path: Path) -> None:
    """Buffers stored after the flatbuffer (``offset``/``size`` fields) must lie inside the file.

    LiteRT's flatbuffer verifier (run by LiteRtCreateModelFromBuffer) checks the flatbuffer
    tables, not these file ranges. This walks only ``Model.buffers`` with the pure-Python
    flatbuffers reader, which cannot crash the process; any exception on a garbled file is an
    invalid flatbuffer.
    """
    from ai_edge_litert import schema_py_generated as schema

    size = buf.nbytes
    bad = None
    try:
        model = schema.Model.GetRootAs(memoryview(buf), 0)
        count = int(model.BuffersLength())
        if count < 0 or count * 4 > size:
            bad = f"{count} buffers in a {size}-byte file"
        else:
            for i in range(count):
                entry = model.Buffers(i)
                if entry is None:
                    continue
                offset, length = int(entry.Offset()), int(entry.Size())
                if offset > 1 and offset + length > size:
                    bad = (
                        f"buffer {i} spans bytes {offset}..{offset + length} of a {size}-byte "
                        "file: truncated"
                    )
                    break
    except Exception as exc:  # garbled tables: struct.error, IndexError, ...
        bad = f"model tables unreadable: {exc}"
    if bad is not None:
        raise LiteRtError(f"cannot load {path}: kLiteRtStatusErrorInvalidFlatbuffer ({bad})", 501)


class LiteRtProfiledModel:
    """A ``.tflite`` model compiled for the CPU by LiteRT with its profiler attached.

    ``threads`` is required (XNNPACK / builtin kernels thread count). ``kernel_mode`` is
    ``"delegate"`` (XNNPACK, events per XNNPACK node) or ``"builtin"`` (TFLite builtin
    kernels, one event per TFLite op); ``"reference"`` (reference kernels) is accepted too.
    Only the model's first signature is run.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, threads: int, kernel_mode: str = "delegate"
    ):
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        if kernel_mode not in KERNEL_MODES:
            raise ValueError(f"kernel_mode must be one of {KERNEL_MODES}, got {kernel_mode!r}")
        self.path = Path(path)
        self.threads = int(threads)
        self.kernel_mode = kernel_mode
        self._env = ctypes.c_void_p()
        self._model = ctypes.c_void_p()
        self._options = ctypes.c_void_p()
        self._compiled = ctypes.c_void_p()
        self._profiler = ctypes.c_void_p()
        self._buffers: list[ctypes.c_void_p] = []
        self._closed = False
        self._model_bytes: np.ndarray | None = None
        self.signature_key = ""
        self.inputs: list[TensorInfo] = []
        self.outputs: list[TensorInfo] = []
        self._in_arrays: list[np.ndarray] = []
        self._out_arrays: list[np.ndarray] = []

        model_bytes = _read_model_bytes(self.path)  # all file checks happen before any C call
        _check_external_buffers(model_bytes, self.path)
        self._lib, self._libc = _load()
        try:
            self._open(model_bytes)
        except BaseException:
            self.close()
            raise

    # ---- construction ------------------------------------------------------------------

    def _open(self, model_bytes: np.ndarray) -> None:
        lib = self._lib
        where = str(self.path)
        _check(
            lib.LiteRtCreateEnvironment(0, None, ctypes.byref(self._env)), "LiteRtCreateEnvironment"
        )
        self._model_bytes = model_bytes  # LiteRT keeps pointing into it: must outlive the model
        _check(
            lib.LiteRtCreateModelFromBuffer(
                self._env, model_bytes.ctypes.data, model_bytes.nbytes, ctypes.byref(self._model)
            ),
            f"loading {where}",
        )

        num_sigs = ctypes.c_size_t()
        _check(
            lib.LiteRtGetNumModelSignatures(self._model, ctypes.byref(num_sigs)),
            "LiteRtGetNumModelSignatures",
        )
        if num_sigs.value < 1:
            raise LiteRtError(f"{where} has no signature to run", 6)
        sig = ctypes.c_void_p()
        _check(
            lib.LiteRtGetModelSignature(self._model, 0, ctypes.byref(sig)),
            "LiteRtGetModelSignature",
        )
        key = ctypes.c_char_p()
        _check(lib.LiteRtGetSignatureKey(sig, ctypes.byref(key)), "LiteRtGetSignatureKey")
        self.signature_key = (key.value or b"").decode("utf-8", "replace")

        in_types = self._signature_tensors(sig, output=False)
        out_types = self._signature_tensors(sig, output=True)

        # Options: CPU only, profiling on, CPU kernel mode and threads.
        _check(lib.LiteRtCreateOptions(ctypes.byref(self._options)), "LiteRtCreateOptions")
        _check(
            lib.LiteRtSetOptionsHardwareAccelerators(self._options, _HW_ACCELERATOR_CPU),
            "LiteRtSetOptionsHardwareAccelerators",
        )
        self._add_opaque(
            _RUNTIME_OPTIONS_ID,
            f"enable_profiling = true\nerror_reporter_mode = {_ERROR_REPORTER_MODE_BUFFER}\n",
        )
        self._add_opaque(
            _CPU_OPTIONS_ID, f'kernel_mode = "{self.kernel_mode}"\nnum_threads = {self.threads}\n'
        )
        _check(
            lib.LiteRtCreateCompiledModel(
                self._env, self._model, self._options, ctypes.byref(self._compiled)
            ),
            f"compiling {where} for CPU ({self.kernel_mode}, {self.threads} threads)",
        )
        _check(
            lib.LiteRtCompiledModelGetProfiler(self._compiled, ctypes.byref(self._profiler)),
            "LiteRtCompiledModelGetProfiler",
        )
        if not self._profiler.value:
            raise LiteRtError(f"compiled model of {where} has no profiler despite enable_profiling")

        # Host-memory tensor buffers, allocated once and reused by every run.
        for info, ttype in in_types:
            self._in_arrays.append(self._make_buffer(info, ttype))
        for info, ttype in out_types:
            self._out_arrays.append(self._make_buffer(info, ttype))
        n_in, n_out = len(self._in_arrays), len(self._out_arrays)
        handles = [b.value for b in self._buffers]
        self._in_handles = (ctypes.c_void_p * max(n_in, 1))(*handles[:n_in])
        self._out_handles = (ctypes.c_void_p * max(n_out, 1))(*handles[n_in:])

    def _signature_tensors(self, sig: ctypes.c_void_p, *, output: bool):
        lib = self._lib
        kind = "output" if output else "input"
        count = ctypes.c_size_t()
        get_count = lib.LiteRtGetNumSignatureOutputs if output else lib.LiteRtGetNumSignatureInputs
        get_name = lib.LiteRtGetSignatureOutputName if output else lib.LiteRtGetSignatureInputName
        get_tensor = (
            lib.LiteRtGetSignatureOutputTensorByIndex
            if output
            else lib.LiteRtGetSignatureInputTensorByIndex
        )
        _check(get_count(sig, ctypes.byref(count)), f"counting signature {kind}s")
        result = []
        for i in range(count.value):
            name = ctypes.c_char_p()
            _check(get_name(sig, i, ctypes.byref(name)), f"reading {kind} {i} name")
            tensor = ctypes.c_void_p()
            _check(get_tensor(sig, i, ctypes.byref(tensor)), f"reading {kind} {i} tensor")
            type_id = ctypes.c_int()
            _check(
                lib.LiteRtGetTensorTypeId(tensor, ctypes.byref(type_id)),
                f"reading {kind} {i} type id",
            )
            label = (name.value or b"").decode("utf-8", "replace")
            if type_id.value != _RANKED_TENSOR_TYPE:
                raise LiteRtError(f"{kind} {label!r} is unranked: not supported", 5)
            ttype = _LiteRtRankedTensorType()
            _check(
                lib.LiteRtGetRankedTensorType(tensor, ctypes.byref(ttype)),
                f"reading {kind} {i} type",
            )
            rank = int(ttype.layout.rank)
            shape = tuple(int(d) for d in ttype.layout.dimensions[:rank])
            if any(d < 0 for d in shape):
                raise LiteRtError(f"{kind} {label!r} has a dynamic shape {shape}: not supported", 5)
            dtype = _ELEMENT_TYPES.get(int(ttype.element_type))
            if dtype is None:
                raise LiteRtError(
                    f"{kind} {label!r} has element type {ttype.element_type}: not supported", 5
                )
            result.append((TensorInfo(label, shape, dtype), ttype))
        if output:
            self.outputs = [info for info, _ in result]
        else:
            self.inputs = [info for info, _ in result]
        return result

    def _add_opaque(self, identifier: bytes, toml: str) -> None:
        lib, libc = self._lib, self._libc
        payload = toml.encode("utf-8") + b"\0"
        ptr = libc.malloc(len(payload))
        if not ptr:
            raise MemoryError("malloc failed for LiteRT options payload")
        ctypes.memmove(ptr, payload, len(payload))
        opaque = ctypes.c_void_p()
        free_fn = ctypes.cast(libc.free, ctypes.c_void_p)
        status = lib.LiteRtCreateOpaqueOptions(identifier, ptr, free_fn, ctypes.byref(opaque))
        if status != 0:
            libc.free(ptr)
            _check(status, f"LiteRtCreateOpaqueOptions({identifier.decode()})")
        status = lib.LiteRtAddOpaqueOptions(self._options, opaque)
        if status != 0:
            lib.LiteRtDestroyOpaqueOptions(opaque)  # frees the payload too
            _check(status, f"LiteRtAddOpaqueOptions({identifier.decode()})")

    def _make_buffer(self, info: TensorInfo, ttype: _LiteRtRankedTensorType) -> np.ndarray:
        raw = _aligned_empty(info.nbytes)
        raw[:] = 0
        handle = ctypes.c_void_p()
        _check(
            self._lib.LiteRtCreateTensorBufferFromHostMemory(
                ctypes.byref(ttype), raw.ctypes.data, info.nbytes, None, ctypes.byref(handle)
            ),
            f"LiteRtCreateTensorBufferFromHostMemory({info.name})",
        )
        self._buffers.append(handle)
        return raw[: info.nbytes].view(info.dtype).reshape(info.shape)

    # ---- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Release the C objects (compiled model, which owns the profiler, then buffers,
        options, model, environment). Idempotent."""
        if self._closed:
            return
        self._closed = True
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        if self._compiled.value:
            lib.LiteRtDestroyCompiledModel(self._compiled)
            self._compiled = ctypes.c_void_p()
            self._profiler = ctypes.c_void_p()
        for handle in self._buffers:
            if handle.value:
                lib.LiteRtDestroyTensorBuffer(handle)
        self._buffers = []
        if self._options.value:
            lib.LiteRtDestroyOptions(self._options)
            self._options = ctypes.c_void_p()
        if self._model.value:
            lib.LiteRtDestroyModel(self._model)
            self._model = ctypes.c_void_p()
        if self._env.value:
            lib.LiteRtDestroyEnvironment(self._env)
            self._env = ctypes.c_void_p()
        self._model_bytes = None

    def __enter__(self) -> "LiteRtProfiledModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ---- running -----------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._closed:
            raise LiteRtError(f"LiteRtProfiledModel({self.path}) is closed")

    def _set_inputs(self, inputs: Sequence[np.ndarray]) -> None:
        self._require_open()
        if len(inputs) != len(self.inputs):
            names = [i.name for i in self.inputs]
            raise ValueError(f"expected {len(self.inputs)} inputs {names}, got {len(inputs)}")
        for info, dst, value in zip(self.inputs, self._in_arrays, inputs):
            arr = np.asarray(value)
            if arr.dtype != np.dtype(info.dtype):
                raise ValueError(f"input {info.name!r} needs dtype {info.dtype}, got {arr.dtype}")
            if tuple(arr.shape) != info.shape:
                raise ValueError(
                    f"input {info.name!r} needs shape {info.shape}, got {tuple(arr.shape)}"
                )
            np.copyto(dst, arr)

    def _run_c(self) -> int:
        """One LiteRtRunCompiledModel on signature 0 with the persistent buffers."""
        return self._lib.LiteRtRunCompiledModel(
            self._compiled,
            0,
            len(self._in_arrays),
            self._in_handles,
            len(self._out_arrays),
            self._out_handles,
        )

    def _invoke(self) -> None:
        status = self._run_c()
        if status != 0:
            _check(status, f"running {self.path.name}", self._error_messages())

    def _error_messages(self) -> str:
        ptr = ctypes.c_void_p()
        status = self._lib.LiteRtCompiledModelGetErrorMessages(self._compiled, ctypes.byref(ptr))
        if status != 0 or not ptr.value:
            return ""
        try:
            text = (ctypes.string_at(ptr.value) or b"").decode("utf-8", "replace")
        finally:
            self._libc.free(ptr.value)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[0] if lines else ""

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run once (profiler stopped) and return copies of the outputs."""
        self._set_inputs(inputs)
        self._invoke()
        return [a.copy() for a in self._out_arrays]

    def _read_events(self, run: int) -> list[OpEvent]:
        lib = self._lib
        count = ctypes.c_int()
        _check(
            lib.LiteRtGetNumProfilerEvents(self._profiler, ctypes.byref(count)),
            "LiteRtGetNumProfilerEvents",
        )
        n = count.value
        if n <= 0:
            return []
        raw = (_ProfiledEventData * n)()
        _check(lib.LiteRtGetProfilerEvents(self._profiler, n, raw), "LiteRtGetProfilerEvents")
        events = []
        for seq, ev in enumerate(raw):
            code = int(ev.event_type)
            kind = _classify(code)
            name = (ev.tag or b"").decode("utf-8", "replace")
            meta1, meta2 = _signed64(int(ev.event_metadata1)), _signed64(int(ev.event_metadata2))
            op_index = None
            if kind in ("op", "delegate_op"):
                match = _TAG_INDEX_RE.search(name)
                op_index = int(match.group(1)) if match else meta1
            elapsed_raw = int(ev.elapsed_time_us)
            bm, em = ev.begin_mem_usage, ev.end_mem_usage
            source = int(ev.event_source)
            events.append(
                OpEvent(
                    name=name,
                    op_index=op_index,
                    run=run,
                    elapsed_ms=0.0 if kind == "telemetry" else elapsed_raw / 1000.0,
                    event_type=_EVENT_TYPE_NAMES.get(code, f"EVENT_TYPE_{code}"),
                    kind=kind,
                    seq=seq,
                    start_us=int(ev.start_timestamp_us) or None,
                    raw_elapsed=elapsed_raw,
                    event_type_code=code,
                    event_source=_EVENT_SOURCE_NAMES.get(source, str(source)),
                    metadata1=meta1,
                    metadata2=meta2,
                    begin_mem=_memory_usage(bm),
                    end_mem=_memory_usage(em),
                )
            )
        return events

    def _summary(self) -> str:
        ptr = ctypes.c_void_p()
        _check(
            self._lib.LiteRtGetProfileSummary(self._profiler, self._compiled, ctypes.byref(ptr)),
            "LiteRtGetProfileSummary",
        )
        if not ptr.value:
            return ""
        try:
            return (ctypes.string_at(ptr.value) or b"").decode("utf-8", "replace")
        finally:
            self._libc.free(ptr.value)

    def profile(
        self, inputs: Sequence[np.ndarray], runs: int, warmup: int, *, with_summary: bool = False
    ) -> LiteRtProfile:
        """``warmup`` unprofiled runs, then ``runs`` profiled runs.

        Each profiled run is bracketed by LiteRtResetProfiler + LiteRtStartProfiler ...
        LiteRtStopProfiler and its events are read right after, so ``events[*].run`` is exact.
        With ``with_summary`` the events of every run are also fed to LiteRT's own
        summariser and its text (run-order / top / by-node-type tables) is returned.
        """
        if isinstance(runs, bool) or int(runs) != runs or runs < 1:
            raise ValueError(f"runs must be a positive int, got {runs!r}")
        if isinstance(warmup, bool) or int(warmup) != warmup or warmup < 0:
            raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
        self._set_inputs(inputs)
        lib = self._lib
        for _ in range(int(warmup)):
            self._invoke()
        whole: list[float] = []
        events: list[OpEvent] = []
        summary = None
        for r in range(int(runs)):
            _check(lib.LiteRtResetProfiler(self._profiler), "LiteRtResetProfiler")
            _check(lib.LiteRtStartProfiler(self._profiler), "LiteRtStartProfiler")
            try:
                t0 = time.perf_counter_ns()
                status = self._run_c()
                t1 = time.perf_counter_ns()
            finally:
                lib.LiteRtStopProfiler(self._profiler)
            if status != 0:
                _check(status, f"running {self.path.name}", self._error_messages())
            whole.append((t1 - t0) / 1e6)
            run_events = self._read_events(r)
            if self.kernel_mode != "delegate" and any(e.kind == "delegate_op" for e in run_events):
                raise LiteRtError(
                    f"kernel_mode={self.kernel_mode!r} was not applied (XNNPACK events recorded): "
                    f"CPU options under {_CPU_OPTIONS_ID.decode()!r} are ignored by this libLiteRt"
                )
            events.extend(run_events)
            if with_summary:
                summary = self._summary()
        return LiteRtProfile(
            whole_run_ms=whole,
            events=events,
            model_path=str(self.path),
            threads=self.threads,
            kernel_mode=self.kernel_mode,
            warmup=int(warmup),
            summary=summary,
            input_names=[i.name for i in self.inputs],
        )
