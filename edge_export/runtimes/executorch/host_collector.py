"""ExecuTorch on this host: real runs of the shipped .pte with ETDump, per-op rows attributed to modules.

The measured program is the artifact itself (one XNNPACK delegate for SwiftFormer); its operator events
are mapped back to FX nodes and module paths by edge_export.attribution.xnnpack_program (XNNPACK
delegate blob + ETRecord). Without an ETRecord the rows are still written, each marked unattributed
with the reason.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from edge_export.artifacts import Manifest, program_path
from edge_export.profile.etdump_rows import NS_PER_MS, rows_from_etdump as _etdump_rows
from edge_export.profile.host_info import peak_rss_mb
from edge_export.profile.op_kinds import op_kind
from edge_export.profile.schema import OpRow, Profile, Stats
from edge_export.profile.template import build_profile, program_input, timed_runs
from edge_export.runtimes.executorch.runner import load_executorch_program, set_executorch_threads
from edge_export.versions import package_version


def _strip_counter(name: str) -> str:
    return name.rsplit(" #", 1)[0]


def _attributions(artifact_dir: Path, manifest: Manifest, etdump_path: Path, skip_runs: int, notes: list[str]):
    """{delegate call: [Attribution per event]} from the ETRecord, or {} with the reason in `notes`."""
    from edge_export.attribution.xnnpack_program import attribute_program

    etrecord = Path(artifact_dir) / manifest.etrecord_file if manifest.etrecord_file else None
    if etrecord is None or not etrecord.is_file():
        notes.append("no ETRecord in the artifact (exported with etrecord=false?): rows are not attributed to modules")
        return {}
    try:
        pa = attribute_program(program_path(artifact_dir, manifest), etdump_path, etrecord, skip_runs=skip_runs)
    except Exception as e:  # attribution must never lose the measurement
        notes.append(f"module attribution failed ({type(e).__name__}: {str(e)[:120]}): rows unattributed")
        return {}
    notes += pa.warnings
    return {(d.chain_index, d.instruction_id): d.attributions for d in pa.delegates}


def _row(name: str, durations: list[float], a) -> OpRow:
    # "" is the root module: ops of the export form's own forward (head pooling), not a layer.
    path = a.module_path if a is not None and a.attributed and a.module_path else None
    if a is None:
        reason = "no ETRecord attribution for this delegate"
    elif a.attributed and not a.module_path:
        reason = "op in the root module's own forward (no submodule)"
    else:
        reason = a.reason or a.how
    kind = op_kind(_strip_counter(name))
    if kind == "other" and a is not None and a.xnode_kind:  # a name that tells nothing ("Invalid Unary Op")
        kind = op_kind(a.xnode_kind.removeprefix("XNN"))
    return OpRow(
        name=name, kind=kind, stats=Stats.of(durations), module_path=path,
        attribution=("exact" if a.how == "matched" else "aligned") if path else "unattributed", reason=reason,
        delegate="XnnpackBackend",
    )


def rows_from_etdump(
    artifact_dir: Path, manifest: Manifest, etdump_path: Path, skip_runs: int
) -> tuple[list[OpRow], list[str]]:
    """Per-op rows (stats over runs after `skip_runs`) with module attribution where the ETRecord allows."""
    notes: list[str] = []
    attributions = None

    def delegate_rows(key, runs):
        nonlocal attributions
        if attributions is None:
            attributions = _attributions(artifact_dir, manifest, etdump_path, skip_runs, notes)
        names = [n for n, _ in runs[0]]
        runs = [r for r in runs if [n for n, _ in r] == names]
        attrs = attributions.get(key)
        return [_row(name, [r[k][1] / NS_PER_MS for r in runs], attrs[k] if attrs and k < len(attrs) else None)
                for k, name in enumerate(names)]

    rows = _etdump_rows(etdump_path, skip_runs, delegate_rows)
    if attributions is None:  # no delegate call: still say why nothing could be attributed
        _attributions(artifact_dir, manifest, etdump_path, skip_runs, notes)
    return rows, notes


def collect(req) -> Profile:
    manifest: Manifest = req.manifest
    set_executorch_threads(req.threads)
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    program, method = load_executorch_program(program_path(req.artifact_dir, manifest), enable_etdump=True)
    load_ms = (time.perf_counter() - t) * 1e3
    x = torch.from_numpy(program_input(manifest)[0])
    req.progress(f"{req.warmup} warm-up + {req.runs} runs, {req.threads} thread(s)")
    first_ms, times = timed_runs(lambda: method.execute([x]), req.runs, req.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        etdump = Path(tmp) / "run.etdp"
        program.write_etdump_result_to_file(str(etdump), str(Path(tmp) / "debug.bin"))
        req.progress("attributing operator events to modules")
        rows, notes = rows_from_etdump(req.artifact_dir, manifest, etdump, skip_runs=max(req.warmup, 1))
    notes.append("whole-run latency measured with ETDump op profiling on (XNNPACK's per-operator timers add a little)")
    return build_profile(
        req, runtime_version=package_version("executorch"), collector="executorch-etdump",
        warmup=max(req.warmup, 1), latency_ms=times, load_ms=load_ms, first_run_ms=first_ms,
        peak_rss_mb=max(peak_rss_mb(), rss0), rows=rows, notes=notes,
    )
