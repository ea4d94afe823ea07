"""ExecuTorch on this host: real runs of the shipped .pte with ETDump, per-op rows attributed to modules.

The measured program is the artifact itself (one XNNPACK delegate for SwiftFormer); its operator events
are mapped back to FX nodes and module paths by edge_export.attribution.xnnpack (XNNPACK delegate blob +
ETRecord). Without an ETRecord the rows are still written, each marked unattributed with the reason.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from edge_export.artifacts import Manifest, program_path
from edge_export.errors import EdgeExportError
from edge_export.images import validation_batch
from edge_export.runtimes.base import to_program_input
from edge_export.runtimes.executorch.runner import load_executorch_program, set_executorch_threads
from edge_export.profile.host_info import host_device, peak_rss_mb
from edge_export.profile.op_kinds import op_kind
from edge_export.profile.schema import OpRow, Profile, Provenance, Stats

_NS_PER_MS = 1e6  # ETDump ticks are nanoseconds on Linux


def _strip_counter(name: str) -> str:
    return name.rsplit(" #", 1)[0]


def rows_from_etdump(
    artifact_dir: Path, manifest: Manifest, etdump_path: Path, skip_runs: int
) -> tuple[list[OpRow], list[str]]:
    """Per-op rows (stats over runs after `skip_runs`) with module attribution where the ETRecord allows."""
    from edge_export.attribution.xnnpack import attribute_program, read_etdump_profile

    pte = program_path(artifact_dir, manifest)
    notes: list[str] = []
    try:
        prof = read_etdump_profile(etdump_path)
    except Exception as e:
        raise EdgeExportError(f"{etdump_path} is not a readable ETDump ({type(e).__name__}): re-run the profile") from None
    per_run: dict[tuple[int, int], list[list[tuple[str, float]]]] = defaultdict(list)
    for r in prof.delegate_runs:
        if r.run_index >= skip_runs:
            per_run[(r.chain_index, r.instruction_id)].append(r.events)

    attributions: dict[tuple[int, int], list] = {}
    etrecord = Path(artifact_dir) / manifest.etrecord_file if manifest.etrecord_file else None
    if etrecord is None or not etrecord.is_file():
        notes.append("no ETRecord in the artifact (exported with etrecord=false?): rows are not attributed to modules")
    else:
        try:
            pa = attribute_program(pte, etdump_path, etrecord, skip_runs=skip_runs)
            for d in pa.delegates:
                attributions[(d.chain_index, d.instruction_id)] = d.attributions
            notes += pa.warnings
        except Exception as e:  # attribution must never lose the measurement
            notes.append(f"module attribution failed ({type(e).__name__}: {str(e)[:120]}): rows unattributed")

    rows: list[OpRow] = []
    index = 0
    for key in sorted(per_run):
        runs = per_run[key]
        names = [n for n, _ in runs[0]]
        runs = [r for r in runs if [n for n, _ in r] == names]
        attrs = attributions.get(key)
        for k, name in enumerate(names):
            durations = [r[k][1] / _NS_PER_MS for r in runs]
            a = attrs[k] if attrs and k < len(attrs) else None
            # "" is the root module: ops of the export form's own forward (head pooling), not a layer.
            path = a.module_path if a is not None and a.attributed and a.module_path else None
            if a is None:
                reason = "no ETRecord attribution for this delegate"
            elif a.attributed and not a.module_path:
                reason = "op in the root module's own forward (no submodule)"
            else:
                reason = a.reason or a.how
            rows.append(
                OpRow(
                    name=name,
                    kind=op_kind(_strip_counter(name)),
                    index=index,
                    stats=Stats.of(durations),
                    module_path=path,
                    attribution=("exact" if a.how == "matched" else "aligned") if path else "unattributed",
                    reason=reason,
                    delegate="XnnpackBackend",
                )
            )
            index += 1
    calls = defaultdict(list)
    for run, ci, ii, dur in prof.operator_calls:
        if run >= skip_runs:
            calls[(ci, ii)].append(dur / _NS_PER_MS)
    for (ci, ii), durations in sorted(calls.items()):
        rows.append(OpRow(name=f"portable instruction {ii}", kind="other", index=index, stats=Stats.of(durations),
                          reason="non-delegated op (portable kernel)", delegate=None))
        index += 1
    return rows, notes


def collect(req) -> Profile:
    manifest: Manifest = req.manifest
    set_executorch_threads(req.threads)
    path = program_path(req.artifact_dir, manifest)
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    program, method = load_executorch_program(path, enable_etdump=True)
    load_ms = (time.perf_counter() - t) * 1e3
    _, batch = validation_batch(manifest.preprocessing, 1)
    x = torch.from_numpy(to_program_input(batch.numpy(), manifest.inputs[0]))
    req.progress(f"{req.warmup} warm-up + {req.runs} runs, {req.threads} thread(s)")
    t = time.perf_counter()
    method.execute([x])
    first_ms = (time.perf_counter() - t) * 1e3
    for _ in range(max(req.warmup - 1, 0)):
        method.execute([x])
    times = []
    for _ in range(req.runs):
        t = time.perf_counter()
        method.execute([x])
        times.append((time.perf_counter() - t) * 1e3)
    with tempfile.TemporaryDirectory() as tmp:
        etdump = Path(tmp) / "run.etdp"
        program.write_etdump_result_to_file(str(etdump), str(Path(tmp) / "debug.bin"))
        req.progress("attributing operator events to modules")
        rows, notes = rows_from_etdump(req.artifact_dir, manifest, etdump, skip_runs=max(req.warmup, 1))
    prov = Provenance(
        where="host", device=host_device(), runtime="executorch", runtime_version=metadata.version("executorch"),
        collector="executorch-etdump", model_id=manifest.model_id, target=manifest.target,
        artifact_sha256=manifest.file_sha256, threads=req.threads, runs=req.runs, warmup=max(req.warmup, 1),
        collected_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    notes.append("whole-run latency measured with ETDump op profiling on (XNNPACK's per-operator timers add a little)")
    return Profile(
        provenance=prov, latency_ms=times, latency=Stats.of(times), load_ms=load_ms, first_run_ms=first_ms,
        peak_rss_mb=max(peak_rss_mb(), rss0), rows=rows, notes=notes,
    )
