"""The LiteRT C API as ctypes sees it: constants, status names, struct layouts and the function
signatures of ``libLiteRt.so`` (ai-edge-litert 2.3.x), loaded once per process.

Every declaration here was checked against the headers of google-ai-edge/LiteRT at the
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
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import threading
import warnings
from pathlib import Path

from edge_export.errors import EdgeExportError

# --------------------------------------------------------------------------------------------
# Constants from the 2.3.0 headers.

TFLITE_FILE_IDENTIFIER = b"TFL3"  # bytes 4:8 of every TFLite flatbuffer
HOST_MEMORY_ALIGNMENT = 64  # LITERT_HOST_MEMORY_BUFFER_ALIGNMENT
HW_ACCELERATOR_CPU = 1  # kLiteRtHwAcceleratorCpu
RANKED_TENSOR_TYPE = 0  # kLiteRtRankedTensorType
MAX_RANK = 8  # LITERT_TENSOR_MAX_RANK
RUNTIME_OPTIONS_ID = b"runtime_options_string"  # LiteRtRuntimeOptionsT::Identifier()
CPU_OPTIONS_ID = b"xnnpack"  # identifier the 2.3.0 runtime reads for CPU options
ERROR_REPORTER_MODE_BUFFER = 2  # kLiteRtErrorReporterModeBuffer

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
EVENT_TYPE_NAMES = {
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
TELEMETRY_MASK = (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8)
EVENT_SOURCE_NAMES = {0: "LITERT", 1: "TFLITE_INTERPRETER", 2: "TFLITE_DELEGATE"}

# LiteRtElementType -> numpy dtype name (the types a host buffer can hold as a numpy array).
ELEMENT_TYPES = {
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

TAG_INDEX_RE = re.compile(r":(\d+)$")


class LiteRtError(EdgeExportError, ValueError):
    """The LiteRT C API refused a model or a call; the message is one line with the status name."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(" ".join(str(message).split()))
        self.status = status
        self.status_name = None if status is None else status_name(status)


def status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, f"LiteRtStatus({status})")


# --------------------------------------------------------------------------------------------
# ctypes declarations.

_p = ctypes.c_void_p
_pp = ctypes.POINTER(ctypes.c_void_p)
_size = ctypes.c_size_t
_status = ctypes.c_int


class LiteRtLayout(ctypes.Structure):
    _fields_ = [
        ("rank", ctypes.c_uint, 7),
        ("has_strides", ctypes.c_uint, 1),
        ("dimensions", ctypes.c_int32 * MAX_RANK),
        ("strides", ctypes.c_uint32 * MAX_RANK),
    ]


class LiteRtRankedTensorType(ctypes.Structure):
    _fields_ = [("element_type", ctypes.c_int), ("layout", LiteRtLayout)]


class LiteRtMemoryUsage(ctypes.Structure):
    _fields_ = [
        ("total_allocated_bytes", ctypes.c_size_t),
        ("in_use_allocated_bytes", ctypes.c_size_t),
        ("private_footprint_bytes", ctypes.c_size_t),
    ]


class ProfiledEventData(ctypes.Structure):
    _fields_ = [
        ("tag", ctypes.c_char_p),
        ("event_type", ctypes.c_int),
        ("start_timestamp_us", ctypes.c_uint64),
        ("elapsed_time_us", ctypes.c_uint64),
        ("begin_mem_usage", LiteRtMemoryUsage),
        ("end_mem_usage", LiteRtMemoryUsage),
        ("event_metadata1", ctypes.c_uint64),
        ("event_metadata2", ctypes.c_uint64),
        ("event_source", ctypes.c_int),
    ]


# The static_asserts of the C headers, for LP64.
assert ctypes.sizeof(LiteRtLayout) == 68 and LiteRtLayout.dimensions.offset == 4
assert LiteRtLayout.strides.offset == 36
assert ctypes.sizeof(LiteRtRankedTensorType) == 72 and LiteRtRankedTensorType.layout.offset == 4
assert ctypes.sizeof(ProfiledEventData) == 104
assert ProfiledEventData.event_metadata1.offset == 80
assert ProfiledEventData.event_source.offset == 96

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
    "LiteRtGetRankedTensorType": (_status, [_p, ctypes.POINTER(LiteRtRankedTensorType)]),
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
        [ctypes.POINTER(LiteRtRankedTensorType), _p, _size, _p, _pp],
    ),
    "LiteRtDestroyTensorBuffer": (None, [_p]),
    "LiteRtRunCompiledModel": (_status, [_p, _size, _size, _pp, _size, _pp]),
    "LiteRtStartProfiler": (_status, [_p]),
    "LiteRtStopProfiler": (_status, [_p]),
    "LiteRtResetProfiler": (_status, [_p]),
    "LiteRtGetNumProfilerEvents": (_status, [_p, ctypes.POINTER(ctypes.c_int)]),
    "LiteRtGetProfilerEvents": (_status, [_p, ctypes.c_int, ctypes.POINTER(ProfiledEventData)]),
    "LiteRtGetProfileSummary": (_status, [_p, _p, _pp]),
}

_lib_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_libc: ctypes.CDLL | None = None


def library_path() -> Path:
    """The ``libLiteRt.so`` of the installed ``ai_edge_litert`` package."""
    import ai_edge_litert

    return Path(ai_edge_litert.__file__).resolve().parent / "libLiteRt.so"


def load_library() -> tuple[ctypes.CDLL, ctypes.CDLL]:
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


def check(status: int, what: str, detail: str = "") -> None:
    if status != 0:
        extra = f": {detail}" if detail else ""
        raise LiteRtError(f"{what} failed with {status_name(status)}{extra}", status)
