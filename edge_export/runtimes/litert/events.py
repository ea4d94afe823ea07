"""What one profiled LiteRT run yields: signature tensors, per-event records and the whole profile."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge_export.runtimes.litert.clib import (
    EVENT_DEFAULT,
    EVENT_DELEGATE_OPERATOR_INVOKE,
    EVENT_DELEGATE_PROFILED_OPERATOR_INVOKE,
    EVENT_GENERAL_RUNTIME_INSTRUMENTATION,
    EVENT_OPERATOR_INVOKE,
    TELEMETRY_MASK,
    LiteRtMemoryUsage,
)



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


#


def signed64(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def memory_usage(m: LiteRtMemoryUsage) -> MemoryUsage:
    return MemoryUsage(
        int(m.total_allocated_bytes), int(m.in_use_allocated_bytes), int(m.private_footprint_bytes)
    )


def classify_event(event_type: int) -> str:
    if event_type == EVENT_OPERATOR_INVOKE:
        return "op"
    if event_type in (EVENT_DELEGATE_OPERATOR_INVOKE, EVENT_DELEGATE_PROFILED_OPERATOR_INVOKE):
        return "delegate_op"
    if event_type & TELEMETRY_MASK:
        return "telemetry"
    if event_type in (EVENT_DEFAULT, EVENT_GENERAL_RUNTIME_INSTRUMENTATION):
        return "runtime"
    return "other"
