"""Reading an ETDump: profiling events grouped by execution, delegate call and instruction."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from os import PathLike


@dataclass
class DelegateRun:
    """Operator events of one delegate call in one run."""

    run_index: int  # index among the ETDump's executions (the load block is not counted)
    chain_index: int
    instruction_id: int
    events: list[tuple[str, float]]  # (name, duration in ETDump ticks; ns on Linux)
    delegate_call_duration: float | None


@dataclass
class EtdumpProfile:
    delegate_runs: list[DelegateRun]
    operator_calls: list[tuple[int, int, int, float]]  # (run, chain, instruction, duration)
    method_times: dict[int, float]  # run -> Method::execute


def read_etdump_profile(etdump_path: str | PathLike[str]) -> EtdumpProfile:
    """Group an ETDump's profiling events by execution, delegate call and instruction.

    Uses ``executorch.devtools.etdump.serialize.deserialize_from_etdump_flatcc``. Events logged
    from inside a delegate have no ``name`` but carry the operator name in
    ``delegate_debug_id_str`` and the chain/instruction of the DelegateCall they ran under; the
    DELEGATE_CALL event itself closes the group. OPERATOR_CALL events are the non-delegated
    (portable) instructions. Run blocks without any Method::execute or operator event (the
    "Default" load block) are not counted as runs.
    """
    from pathlib import Path

    from executorch.devtools.etdump.serialize import deserialize_from_etdump_flatcc

    et = deserialize_from_etdump_flatcc(Path(etdump_path).read_bytes())
    prof = EtdumpProfile([], [], {})
    run = -1
    for rd in et.run_data or []:
        pes = [ev.profile_event for ev in (rd.events or []) if ev.profile_event is not None]
        if not any(pe.name in ("Method::execute", "DELEGATE_CALL", "OPERATOR_CALL") for pe in pes):
            continue
        run += 1
        pending: dict[tuple[int, int], list[tuple[str, float]]] = defaultdict(list)
        for pe in pes:
            key = (pe.chain_index, pe.instruction_id)
            dur = float(pe.end_time - pe.start_time)
            if pe.name is None and pe.delegate_debug_id_str is not None:
                pending[key].append((pe.delegate_debug_id_str, dur))
            elif pe.name == "DELEGATE_CALL":
                prof.delegate_runs.append(DelegateRun(run, key[0], key[1], pending.pop(key, []), dur))
            elif pe.name == "OPERATOR_CALL":
                prof.operator_calls.append((run, key[0], key[1], dur))
            elif pe.name == "Method::execute":
                prof.method_times[run] = dur
        for key, evs in pending.items():  # delegate events without a closing DELEGATE_CALL
            prof.delegate_runs.append(DelegateRun(run, key[0], key[1], evs, None))
    return prof


def read_etdump_delegate_runs(etdump_path: str | PathLike[str]) -> list[DelegateRun]:
    return read_etdump_profile(etdump_path).delegate_runs
