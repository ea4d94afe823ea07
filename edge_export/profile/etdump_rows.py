"""Per-op profile rows from an ETDump, for every runtime whose programs ExecuTorch runs (XNNPACK, QNN).

The runtime turns one delegate call's events into rows (it knows what its events mean and which module
each came from); what is common - reading the file, grouping events by delegate call over the measured
runs, the rows of non-delegated (portable) instructions and the op order - is here.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable

from edge_export.errors import EdgeExportError
from edge_export.profile.schema import OpRow, Stats

NS_PER_MS = 1e6  # ETDump ticks are nanoseconds on Linux

# (chain index, instruction id) of a delegate call -> its events in each measured run: [(name, value), ...]
CallRuns = dict[tuple[int, int], list[list[tuple[str, float]]]]


def read_delegate_calls(etdump_path: Path, skip_runs: int):
    """(EtdumpProfile, CallRuns after the first `skip_runs` runs); a one-line error for an unreadable file."""
    from edge_export.attribution.etdump import read_etdump_profile

    try:
        prof = read_etdump_profile(etdump_path)
    except Exception as e:
        raise EdgeExportError(f"{etdump_path} is not a readable ETDump ({type(e).__name__}): re-run the profile") from None
    calls: CallRuns = defaultdict(list)
    for r in prof.delegate_runs:
        if r.run_index >= skip_runs:
            calls[(r.chain_index, r.instruction_id)].append(r.events)
    return prof, calls


def rows_from_etdump(
    etdump_path: Path,
    skip_runs: int,
    delegate_rows: Callable[[tuple[int, int], list[list[tuple[str, float]]]], list[OpRow]],
) -> list[OpRow]:
    """Rows of every delegate call (`delegate_rows(call, runs)`, calls in program order), then one row per
    portable instruction; `index` is the position in that order."""
    prof, calls = read_delegate_calls(etdump_path, skip_runs)
    rows: list[OpRow] = []
    for key in sorted(calls):
        rows += delegate_rows(key, calls[key])
    portable: dict[tuple[int, int], list[float]] = defaultdict(list)
    for run, ci, ii, dur in prof.operator_calls:
        if run >= skip_runs:
            portable[(ci, ii)].append(dur / NS_PER_MS)
    for (_, ii), durations in sorted(portable.items()):
        rows.append(OpRow(name=f"portable instruction {ii}", kind="other", stats=Stats.of(durations),
                          reason="non-delegated op (portable kernel)", delegate=None))
    return [r.model_copy(update={"index": k}) for k, r in enumerate(rows)]
