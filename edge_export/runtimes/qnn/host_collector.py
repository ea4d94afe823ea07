"""QNN artifacts (runtime "executorch-qnn") on this x86 host: runs on QNN's HTP *simulator*, per-op rows from
the ETDump of a profile_level>=2 program, attributed to modules through the ETRecord.

Every run logs one delegate event per QNN op, "<fx node>:OpId_N (cycles)", whose end_time is the simulated
cycle count (start_time 0: not a timestamp), plus "Accelerator (execute) time (cycles)" / "(us)" rows. Op rows
are put in ms by scaling each run's op cycles to that run's "Accelerator (execute) time (us)" (so they sum to
it); without that row they hold raw cycles / 1e6 (said in the notes). The FX node name before ":OpId_" is
looked up in ETRecord.edge_dialect_program; its innermost nn_module_stack entry is the module path. Nothing
here is device latency (Provenance.simulator is always True).
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from edge_export.artifacts import Manifest
from edge_export.errors import EdgeExportError
from edge_export.profile.etdump_rows import rows_from_etdump as _etdump_rows
from edge_export.profile.op_kinds import op_kind
from edge_export.profile.schema import OpRow, Profile, Stats
from edge_export.profile.template import build_profile, program_input
from edge_export.versions import package_version

COLLECTOR = "qnn-htp-simulator-etdump"
ACCEL_CYCLES = "Accelerator (execute) time (cycles)"
ACCEL_US = "Accelerator (execute) time (us)"
_OP = re.compile(r"^(?P<node>.+):OpId_\d+ \(cycles\)$")


def node_module_map(etrecord_path: Path) -> dict[str, str]:
    """{FX node name in the ETRecord's edge program: innermost module path ("" = root)}."""
    from edge_export.attribution.etrecord import edge_program, innermost_module

    _, ep = edge_program(str(etrecord_path))
    out: dict[str, str] = {}
    for node in ep.graph.nodes:
        if node.op == "call_function":
            mod = innermost_module(node)
            if mod is not None:
                out[node.name] = mod
    return out


class _Scaling:
    """How op cycles became ms, over all runs (for the notes)."""

    def __init__(self):
        self.scaled_runs = self.raw_runs = 0
        self.ratios: list[float] = []

    def per_run_values(self, runs, names) -> list[list[float]]:
        """Per run (that ran exactly `names`), per op: ms (scaled to the run's accelerator time) or Mcycles."""
        values = []
        for evs in runs:
            ops = [(n, v) for n, v in evs if _OP.match(n)]
            if [n for n, _ in ops] != names:
                continue  # a run with a different op list cannot be merged row by row
            other = dict((n, v) for n, v in evs if not _OP.match(n))
            total = sum(v for _, v in ops)
            if other.get(ACCEL_US) and total > 0:
                scale = other[ACCEL_US] / 1e3 / total
                self.scaled_runs += 1
                if other.get(ACCEL_CYCLES):
                    self.ratios.append(total / other[ACCEL_CYCLES])
            else:
                scale = 1e-6
                self.raw_runs += 1
            values.append([v * scale for _, v in ops])
        return values

    def note(self) -> str:
        if self.scaled_runs and not self.raw_runs:
            return ("op rows: simulated HTP cycles of each run scaled so they sum to that run's 'Accelerator (execute) "
                    "time (us)' on the simulator (ms of simulated accelerator time, not device latency)"
                    + (f"; op cycles / accelerator cycles = {min(self.ratios):.4f}..{max(self.ratios):.4f}"
                       if self.ratios else ""))
        if self.raw_runs and not self.scaled_runs:
            return "op rows are simulated HTP cycles in millions (stored as 'ms'), NOT milliseconds"
        return (f"op rows mix scaled ms ({self.scaled_runs} runs) and raw Mcycles ({self.raw_runs} runs without "
                f"'{ACCEL_US}'): compare them with care")


def _module_map(artifact_dir: Path, manifest: Manifest, notes: list[str]) -> dict[str, str] | None:
    etrecord = Path(artifact_dir) / manifest.etrecord_file if manifest.etrecord_file else None
    if etrecord is None or not etrecord.is_file():
        notes.append("no ETRecord in the artifact (exported with etrecord=false?): rows are not attributed to modules")
        return None
    try:
        return node_module_map(etrecord)
    except Exception as e:  # attribution must never lose the measurement
        notes.append(f"module attribution failed ({type(e).__name__}: {str(e)[:120]}): rows unattributed")
        return None


def _row(name: str, values: list[float], modules: dict[str, str] | None) -> OpRow:
    node = _OP.match(name).group("node")
    mod = modules.get(node) if modules is not None else None
    if modules is None:
        reason = "no ETRecord attribution"
    elif mod is None:
        reason = f"{node} is not a node of the ETRecord's edge program (QNN-inserted layout op?)"
    elif mod == "":
        reason = "op in the root module's own forward (no submodule)"
    else:
        reason = "FX node name in the QNN event -> nn_module_stack"
    path = mod or None
    return OpRow(name=name, kind=op_kind(node), stats=Stats.of(values), module_path=path,
                 attribution="exact" if path else "unattributed", reason=reason, delegate="QnnBackend")


def rows_from_etdump(
    artifact_dir: Path, manifest: Manifest, etdump_path: Path, skip_runs: int
) -> tuple[list[OpRow], list[str]]:
    notes: list[str] = []
    scaling = _Scaling()
    modules: dict[str, str] | None = None
    seen_ops = False

    def delegate_rows(key, runs):
        nonlocal modules, seen_ops
        names = [n for n, _ in runs[0] if _OP.match(n)]
        if not names:
            return []
        if not seen_ops:
            seen_ops = True
            modules = _module_map(artifact_dir, manifest, notes)
        values = scaling.per_run_values(runs, names)
        return [_row(name, [v[k] for v in values], modules) for k, name in enumerate(names)]

    rows = _etdump_rows(etdump_path, skip_runs, delegate_rows)
    if not seen_ops:
        raise EdgeExportError(
            "the ETDump has no per-op QNN cycle events: re-export the artifact with profile_level=2 (detailed)"
        )
    notes.append(scaling.note())
    return rows, notes


def collect(req) -> Profile:
    from edge_export.runtimes.qnn.runner import QnnRunner

    manifest: Manifest = req.manifest
    opts = req.options or {}
    t = time.perf_counter()
    runner = QnnRunner(req.artifact_dir, manifest, req.threads, enable_etdump=True, qnn_sdk=opts.get("qnn_sdk"))
    try:
        load_ms = (time.perf_counter() - t) * 1e3
        x = program_input(manifest)[0]
        warmup = max(req.warmup, 1)
        req.progress(f"{warmup} warm-up + {req.runs} runs on the QNN HTP simulator (not device latency)")
        runner.run_raw([x])
        first_ms = runner.last_seconds[0] * 1e3
        for _ in range(warmup - 1):
            runner.run_raw([x])
        # one round trip per run: last_seconds is the child's own execute() time of that run
        times = []
        for _ in range(req.runs):
            runner.run_raw([x])
            times.append(runner.last_seconds[0] * 1e3)
        with tempfile.TemporaryDirectory() as tmp:
            etdump = runner.write_etdump(Path(tmp) / "run.etdump")
            req.progress("attributing QNN op events to modules")
            rows, notes = rows_from_etdump(req.artifact_dir, manifest, etdump, skip_runs=warmup)
        sdk = runner.sdk
    finally:
        runner.close()
    to = manifest.target_options
    notes.insert(0, "QNN HTP simulator on an x86 host: latency_ms is simulator wall time per run, not device latency")
    return build_profile(
        req, runtime_version=package_version("executorch"), collector=COLLECTOR,
        simulator=True, warmup=warmup, latency_ms=times, load_ms=load_ms, first_run_ms=first_ms, rows=rows,
        notes=notes,  # no peak_rss_mb: the program runs in the runner's child process
        options={"soc": to.get("soc"), "htp_arch": to.get("htp_arch"), "profile_level": to.get("profile_level"),
                 "qairt_version": getattr(sdk, "qairt_version", None) or to.get("qairt_version")},
    )
