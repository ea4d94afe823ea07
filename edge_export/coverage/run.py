"""Run the coverage matrix: every (model x target) cell exported, validated and timed, one line of error for a
cell that fails (the run goes on), JSON + markdown written atomically into the output folder."""

from __future__ import annotations

import datetime as _dt
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from edge_export.arm.cpus import DEFAULT_CPU
from edge_export.coverage.models import Entry
from edge_export.errors import EdgeExportError

SCHEMA = "edge-export-coverage/1"
TIMING_ENTRY = "edge_export.coverage.timing:serve"


@dataclass
class Cell:
    model: str
    target: str
    ok: bool
    error: str | None = None
    artifact: str | None = None
    export_s: float | None = None
    mb: float | None = None
    params: int | None = None
    flops: int | None = None
    subgraphs: int | None = None
    delegated_pct: float | None = None
    fallback_ops: dict[str, int] = field(default_factory=dict)
    cosine_min: float | None = None
    top1_agree: float | None = None
    median_ms: dict[str, float] = field(default_factory=dict)  # threads -> median ms
    pct_of_peak: dict[str, float] = field(default_factory=dict)  # threads -> % of the fp32 GEMM peak
    program_file: str | None = None
    parity_images: int | None = None  # the host validation's; the Arm run uses as many
    arm: dict | None = None  # .tflite cells on emulated Arm kernels (coverage/arm.py)


def default_targets() -> list[str]:
    """Every CPU target but the TF route (SwiftFormer's softmax form only), and qnn-fp16 when the host SDK is set up."""
    from edge_export.targets import list_targets

    names = [t.name for t in list_targets() if t.runtime != "executorch-qnn" and t.name != "tf-tflite-fp32"]
    try:
        from edge_export.runtimes.qnn import find_qnn_sdk

        find_qnn_sdk()
        names.append("qnn-fp16")
    except EdgeExportError:
        pass
    return names


def _export_row(entry: Entry, targets: list[str], out: Path, validate_images: int, calib: int,
                progress: Callable[[str], None]) -> list[Cell]:
    """One export call for the model's targets (they share the model, its reference and the TFLite conversion,
    and run side by side); a target that fails is a failed cell, and so is every target when the model fails."""
    from edge_export.export import ExportRequest, export_outcomes

    request = ExportRequest(entry.model, list(targets), out, model_options=dict(entry.options),
                            validate_images=validate_images, calib=calib)
    try:
        outcomes = export_outcomes(request, lambda m: progress(f"{entry.name}: {m}"))
    except EdgeExportError as e:
        return [Cell(entry.name, t, False, error=" ".join(str(e).split())) for t in targets]
    return [_cell(entry, o.target, o.path) if o.path else
            Cell(entry.name, o.target, False, error=" ".join(str(o.error).split())) for o in outcomes]


def _cell(entry: Entry, target: str, path: Path) -> Cell:
    import edge_export as ee

    m = ee.read_manifest(path)
    d = m.delegation
    total = (d.delegated_nodes + d.fallback_nodes) if d else 0
    return Cell(
        entry.name, target, True, artifact=str(path), export_s=round(m.export_seconds, 1),
        mb=round(m.file_bytes / 1e6, 2), params=m.params, flops=m.flops,
        subgraphs=d.subgraphs if d else None, delegated_pct=round(100 * d.delegated_nodes / total, 1) if total else None,
        fallback_ops=dict(d.fallback_ops) if d else {}, cosine_min=m.parity.cosine_min if m.parity else None,
        top1_agree=m.parity.top1_agree if m.parity else None, program_file=m.program_file,
        parity_images=m.parity.images if m.parity else None,
    )


def _interleaved(contestants: dict[str, dict], runs: int, rounds: int, timeout: float) -> dict[str, list[float]]:
    """{name: init} -> {name: times_ms}: one child each, `rounds` rounds of runs/rounds each, in turn."""
    from edge_export.child import Session

    sessions, times = {}, {}
    try:
        for name, init in contestants.items():
            sessions[name] = Session(TIMING_ENTRY, init, what=f"timing {name}", timeout=timeout)
            times[name] = []
        per_round = max(1, runs // rounds)
        for r in range(rounds):
            for name, s in sessions.items():
                reply = s.request({"n": per_round, "warmup": 2 if r == 0 else 0}, f"timing round {r + 1}")
                if not reply.get("ok"):
                    raise EdgeExportError(f"timing {name} failed: {reply.get('error')}")
                times[name] += reply["times_ms"]
    finally:
        for s in sessions.values():
            s.close()
    return times


def gemm_peak(threads: list[int], runs: int, rounds: int) -> dict[str, float]:
    """GFLOP/s of an fp32 matmul through ExecuTorch's XNNPACK, per thread count, measured in this run."""
    from edge_export.coverage.timing import GEMM_N, gemm_flops

    times = _interleaved({str(t): {"gemm": GEMM_N, "threads": t} for t in threads}, runs, rounds, 600)
    return {t: round(gemm_flops() / (statistics.median(v) / 1e3) / 1e9, 1) for t, v in times.items()}


def _time_cells(cells: list[Cell], threads: list[int], runs: int, rounds: int, peak: dict[str, float]) -> None:
    ok = [c for c in cells if c.ok]
    contestants = {f"{c.target}@{t}": {"artifact": c.artifact, "threads": t} for c in ok for t in threads}
    try:
        times = _interleaved(contestants, runs, rounds, 600)
    except EdgeExportError as e:
        for c in ok:
            c.error = f"timing failed: {' '.join(str(e).split())}"
        return
    for c in ok:
        for t in threads:
            med = statistics.median(times[f"{c.target}@{t}"])
            c.median_ms[str(t)] = round(med, 3)
            if c.flops and peak.get(str(t)):
                c.pct_of_peak[str(t)] = round(100 * c.flops / (med / 1e3) / 1e9 / peak[str(t)], 1)


def run_coverage(entries: list[Entry], targets: list[str], out: Path, *, threads: list[int] = (1, 2), runs: int = 20,
                 rounds: int = 4, validate_images: int | None = None, calib: int | None = None,
                 arm_cpu: str | None = DEFAULT_CPU, progress: Callable[[str], None] = lambda m: None) -> dict:
    """The matrix as a dict (also written to out/coverage.json and out/coverage.md). arm_cpu None: no Arm column.
    validate_images and calib default to `edge-export export`'s: a cell passes when a user's export would (with
    16 calibration images instead of 32, ConvNeXt's tflite-int8 missed the bar: docs/measurements.md)."""
    from edge_export.export import ExportRequest

    from edge_export.artifacts import write_json_atomic, write_text_atomic
    from edge_export.coverage.arm import arm_column, run_arm
    from edge_export.coverage.report import markdown, paper_comparison
    from edge_export.profile.host_info import host_device

    validate_images = ExportRequest.validate_images if validate_images is None else validate_images
    calib = ExportRequest.calib if calib is None else calib
    out = Path(out)
    threads = list(threads)
    arm = arm_column(arm_cpu)
    if arm["status"] != "ran":
        progress(f"Arm kernels (emulated): {arm['status']}")
    progress(f"measuring the fp32 GEMM peak at {threads} threads")
    peak = gemm_peak(threads, runs, rounds)
    cells: list[Cell] = []
    for entry in entries:
        progress(f"{entry.name}: exporting to {', '.join(targets)}")
        row = _export_row(entry, targets, out / "artifacts", validate_images, calib, progress)
        for cell in row:
            progress(f"{entry.name} {cell.target}: " + (f"{cell.subgraphs} subgraph(s), cosine {cell.cosine_min:.5f}"
                                                        if cell.ok else f"failed: {cell.error}"))
        progress(f"{entry.name}: timing {sum(c.ok for c in row)} artifact(s) at {threads} threads")
        _time_cells(row, threads, runs, rounds, peak)
        run_arm(row, arm, progress)  # after timing: QEMU's load stays out of the host's times
        cells += row
    result = {
        "schema": SCHEMA,
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),  # timing shares the machine with what else ran
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": host_device(),
        "threads": threads,
        "runs": runs,
        "validate_images": validate_images,
        "calibration_images": calib,
        "gemm_peak_gflops": peak,
        "models": [asdict(e) for e in entries],
        "targets": list(targets),
        "cells": [asdict(c) for c in cells],
        "arm": arm,
    }
    result["paper"] = paper_comparison(result)
    write_json_atomic(out / "coverage.json", result)
    write_text_atomic(out / "coverage.md", markdown(result))
    return result
