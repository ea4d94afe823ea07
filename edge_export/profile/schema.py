"""The profile format: one JSON file per (artifact, device, run set). Versioned; read by the dashboard,
`compare`, and written by the Android app's benchmark mode too.

Rows hold per-op measurements with the module path they are attributed to; roll-ups per module at any
depth are computed from rows (edge_export.profile.rollup), never stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_export.errors import EdgeExportError

PROFILE_SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Stats(_Strict):
    """Milliseconds over runs."""

    n: int
    min: float
    p10: float
    median: float
    p90: float
    max: float
    mean: float

    @classmethod
    def of(cls, values_ms) -> "Stats":
        a = np.asarray(list(values_ms), dtype=np.float64)
        if a.size == 0:
            raise ValueError("no measurements")
        return cls(
            n=int(a.size),
            min=float(a.min()),
            p10=float(np.percentile(a, 10)),
            median=float(np.median(a)),
            p90=float(np.percentile(a, 90)),
            max=float(a.max()),
            mean=float(a.mean()),
        )


class Provenance(_Strict):
    where: str  # "host" or "adb:<serial>"
    device: dict[str, str] = Field(default_factory=dict)  # cpu_model / model, soc, android_version ...
    runtime: str  # "executorch" | "litert" ...
    runtime_version: str | None = None
    collector: str  # e.g. "executorch-etdump", "litert-capi", "benchmark_model-csv", "android-app"
    simulator: bool = False  # True when times come from a simulator (not device latency)
    model_id: str
    target: str
    artifact_sha256: str
    threads: int
    runs: int
    warmup: int
    collected_at: str
    options: dict[str, str] = Field(default_factory=dict)


class OpRow(_Strict):
    name: str  # the runtime's own op/event name
    kind: str  # normalized op kind: conv, gemm, gelu, add, mul, normalize, pool, softmax, transpose, ...
    index: int | None = None  # op index in the runtime's own order
    stats: Stats  # per-run time of this op (ms)
    # dotted PyTorch module path (e.g. network.2.5.attn), in the family's canonical names (Manifest.module_names),
    # or a pseudo-module (PSEUDO_MODULES) for time that belongs to the model as a whole
    module_path: str | None = None
    attribution: Literal["exact", "aligned", "unattributed"] = "unattributed"
    reason: str | None = None  # why unattributed, or how aligned
    delegate: str | None = None


# Pseudo-modules: op time of the model as a whole, not of one of its modules (an int8 program converting its input
# to int8 and to the delegate's layout, and its output back to float).
MODEL_INPUT = "(input)"
MODEL_OUTPUT = "(output)"
PSEUDO_MODULES = (MODEL_INPUT, MODEL_OUTPUT)

WHOLE_MODEL = "(whole model)"  # how views label NumericGap.module_path "" (the root module: the model's output)


class NumericGap(_Strict):
    module_path: str  # a module of the export form; "" = the root, i.e. the whole model's output
    cosine: float
    max_abs: float
    rel_l2: float


class Profile(_Strict):
    schema_version: int = PROFILE_SCHEMA_VERSION
    provenance: Provenance
    latency_ms: list[float]  # whole-model wall time per measured run
    latency: Stats
    load_ms: float | None = None
    first_run_ms: float | None = None
    peak_rss_mb: float | None = None
    rows: list[OpRow] = Field(default_factory=list)
    complete: bool = True  # False if the collection stopped early (device disconnected...)
    numeric_gap: list[NumericGap] | None = None
    notes: list[str] = Field(default_factory=list)

    def op_total_ms(self) -> float:
        return sum(r.stats.median for r in self.rows)

    def attributed_fraction(self) -> float:
        total = self.op_total_ms()
        done = sum(r.stats.median for r in self.rows if r.module_path)
        return done / total if total > 0 else 0.0


class ProfileError(EdgeExportError, ValueError):
    """A profile file that cannot be read as this version's profile format (one line)."""


def load_profile(path: Path) -> Profile:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path} is not a readable profile JSON ({e})") from None
    if not isinstance(data, dict) or data.get("schema_version") != PROFILE_SCHEMA_VERSION:
        got = data.get("schema_version") if isinstance(data, dict) else None
        raise ProfileError(f"{path} has profile schema_version {got!r}, expected {PROFILE_SCHEMA_VERSION}")
    try:
        return Profile.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise ProfileError(f"{path}: field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def save_profile(profile: Profile, path: Path) -> None:
    from edge_export.artifacts import write_json_atomic

    write_json_atomic(Path(path), profile.model_dump(mode="json"))
