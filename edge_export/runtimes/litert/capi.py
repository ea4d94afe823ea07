"""Run a ``.tflite`` model through the LiteRT C API with the built-in profiler on.

The ``ai-edge-litert`` 2.3.x wheel ships ``libLiteRt.so``, which exports the LiteRT C API
(``CompiledModel``, tensor buffers, and a per-op profiler). The Python ``Interpreter`` of the same
wheel has no profiler, so this module drives the C library through :mod:`ctypes`:

    environment -> model (from a verified in-memory copy of the file) -> options
    (CPU accelerator; opaque "runtime_options_string" ``enable_profiling = true``; opaque
    "xnnpack" CPU options ``kernel_mode`` / ``num_threads``) -> compiled model -> its profiler
    -> host-memory tensor buffers (64-byte aligned) -> run.

The ctypes declarations (:mod:`.clib`) were checked against the 2.3.0 headers; see there.

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
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from edge_export.runtimes.litert.clib import (
    CPU_OPTIONS_ID,
    ELEMENT_TYPES,
    ERROR_REPORTER_MODE_BUFFER,
    EVENT_SOURCE_NAMES,
    EVENT_TYPE_NAMES,
    HW_ACCELERATOR_CPU,
    KERNEL_MODES,
    RANKED_TENSOR_TYPE,
    RUNTIME_OPTIONS_ID,
    TAG_INDEX_RE,
    LiteRtError,
    LiteRtRankedTensorType,
    ProfiledEventData,
    check,
    library_path,
    load_library,
)
from edge_export.runtimes.litert.events import (
    LiteRtProfile,
    MemoryUsage,
    OpEvent,
    TensorInfo,
    classify_event,
    memory_usage,
    signed64,
)
from edge_export.runtimes.litert.model_file import aligned_empty, check_external_buffers, read_model_bytes

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

        model_bytes = read_model_bytes(self.path)  # all file checks happen before any C call
        check_external_buffers(model_bytes, self.path)
        self._lib, self._libc = load_library()
        try:
            self._open(model_bytes)
        except BaseException:
            self.close()
            raise

    # ---- construction ------------------------------------------------------------------

    def _open(self, model_bytes: np.ndarray) -> None:
        lib = self._lib
        where = str(self.path)
        check(
            lib.LiteRtCreateEnvironment(0, None, ctypes.byref(self._env)), "LiteRtCreateEnvironment"
        )
        self._model_bytes = model_bytes  # LiteRT keeps pointing into it: must outlive the model
        check(
            lib.LiteRtCreateModelFromBuffer(
                self._env, model_bytes.ctypes.data, model_bytes.nbytes, ctypes.byref(self._model)
            ),
            f"loading {where}",
        )

        num_sigs = ctypes.c_size_t()
        check(
            lib.LiteRtGetNumModelSignatures(self._model, ctypes.byref(num_sigs)),
            "LiteRtGetNumModelSignatures",
        )
        if num_sigs.value < 1:
            raise LiteRtError(f"{where} has no signature to run", 6)
        sig = ctypes.c_void_p()
        check(
            lib.LiteRtGetModelSignature(self._model, 0, ctypes.byref(sig)),
            "LiteRtGetModelSignature",
        )
        key = ctypes.c_char_p()
        check(lib.LiteRtGetSignatureKey(sig, ctypes.byref(key)), "LiteRtGetSignatureKey")
        self.signature_key = (key.value or b"").decode("utf-8", "replace")

        in_types = self._signature_tensors(sig, output=False)
        out_types = self._signature_tensors(sig, output=True)

        # Options: CPU only, profiling on, CPU kernel mode and threads.
        check(lib.LiteRtCreateOptions(ctypes.byref(self._options)), "LiteRtCreateOptions")
        check(
            lib.LiteRtSetOptionsHardwareAccelerators(self._options, HW_ACCELERATOR_CPU),
            "LiteRtSetOptionsHardwareAccelerators",
        )
        self._add_opaque(
            RUNTIME_OPTIONS_ID,
            f"enable_profiling = true\nerror_reporter_mode = {ERROR_REPORTER_MODE_BUFFER}\n",
        )
        self._add_opaque(
            CPU_OPTIONS_ID, f'kernel_mode = "{self.kernel_mode}"\nnum_threads = {self.threads}\n'
        )
        check(
            lib.LiteRtCreateCompiledModel(
                self._env, self._model, self._options, ctypes.byref(self._compiled)
            ),
            f"compiling {where} for CPU ({self.kernel_mode}, {self.threads} threads)",
        )
        check(
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
        check(get_count(sig, ctypes.byref(count)), f"counting signature {kind}s")
        result = []
        for i in range(count.value):
            name = ctypes.c_char_p()
            check(get_name(sig, i, ctypes.byref(name)), f"reading {kind} {i} name")
            tensor = ctypes.c_void_p()
            check(get_tensor(sig, i, ctypes.byref(tensor)), f"reading {kind} {i} tensor")
            type_id = ctypes.c_int()
            check(
                lib.LiteRtGetTensorTypeId(tensor, ctypes.byref(type_id)),
                f"reading {kind} {i} type id",
            )
            label = (name.value or b"").decode("utf-8", "replace")
            if type_id.value != RANKED_TENSOR_TYPE:
                raise LiteRtError(f"{kind} {label!r} is unranked: not supported", 5)
            ttype = LiteRtRankedTensorType()
            check(
                lib.LiteRtGetRankedTensorType(tensor, ctypes.byref(ttype)),
                f"reading {kind} {i} type",
            )
            rank = int(ttype.layout.rank)
            shape = tuple(int(d) for d in ttype.layout.dimensions[:rank])
            if any(d < 0 for d in shape):
                raise LiteRtError(f"{kind} {label!r} has a dynamic shape {shape}: not supported", 5)
            dtype = ELEMENT_TYPES.get(int(ttype.element_type))
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
            check(status, f"LiteRtCreateOpaqueOptions({identifier.decode()})")
        status = lib.LiteRtAddOpaqueOptions(self._options, opaque)
        if status != 0:
            lib.LiteRtDestroyOpaqueOptions(opaque)  # frees the payload too
            check(status, f"LiteRtAddOpaqueOptions({identifier.decode()})")

    def _make_buffer(self, info: TensorInfo, ttype: LiteRtRankedTensorType) -> np.ndarray:
        raw = aligned_empty(info.nbytes)
        raw[:] = 0
        handle = ctypes.c_void_p()
        check(
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
            check(status, f"running {self.path.name}", self._error_messages())

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
        check(
            lib.LiteRtGetNumProfilerEvents(self._profiler, ctypes.byref(count)),
            "LiteRtGetNumProfilerEvents",
        )
        n = count.value
        if n <= 0:
            return []
        raw = (ProfiledEventData * n)()
        check(lib.LiteRtGetProfilerEvents(self._profiler, n, raw), "LiteRtGetProfilerEvents")
        events = []
        for seq, ev in enumerate(raw):
            code = int(ev.event_type)
            kind = classify_event(code)
            name = (ev.tag or b"").decode("utf-8", "replace")
            meta1, meta2 = signed64(int(ev.event_metadata1)), signed64(int(ev.event_metadata2))
            op_index = None
            if kind in ("op", "delegate_op"):
                match = TAG_INDEX_RE.search(name)
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
                    event_type=EVENT_TYPE_NAMES.get(code, f"EVENT_TYPE_{code}"),
                    kind=kind,
                    seq=seq,
                    start_us=int(ev.start_timestamp_us) or None,
                    raw_elapsed=elapsed_raw,
                    event_type_code=code,
                    event_source=EVENT_SOURCE_NAMES.get(source, str(source)),
                    metadata1=meta1,
                    metadata2=meta2,
                    begin_mem=memory_usage(bm),
                    end_mem=memory_usage(em),
                )
            )
        return events

    def _summary(self) -> str:
        ptr = ctypes.c_void_p()
        check(
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
            check(lib.LiteRtResetProfiler(self._profiler), "LiteRtResetProfiler")
            check(lib.LiteRtStartProfiler(self._profiler), "LiteRtStartProfiler")
            try:
                t0 = time.perf_counter_ns()
                status = self._run_c()
                t1 = time.perf_counter_ns()
            finally:
                lib.LiteRtStopProfiler(self._profiler)
            if status != 0:
                check(status, f"running {self.path.name}", self._error_messages())
            whole.append((t1 - t0) / 1e6)
            run_events = self._read_events(r)
            if self.kernel_mode != "delegate" and any(e.kind == "delegate_op" for e in run_events):
                raise LiteRtError(
                    f"kernel_mode={self.kernel_mode!r} was not applied (XNNPACK events recorded): "
                    f"CPU options under {CPU_OPTIONS_ID.decode()!r} are ignored by this libLiteRt"
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
