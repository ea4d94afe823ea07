"""Lower to and run ExecuTorch's QNN (HTP) backend in a child process.

Why a child: ExecuTorch finds libQnnHtp.so through LD_LIBRARY_PATH, which the loader reads only at
process start; a broken SDK aborts the process (C++ assert) instead of raising; and lowering writes
files (forward_schematic.bin ...) into the current directory. So the parent exports the model,
hands it over as files in a temporary directory, and reads back a .pte and a JSON report.

Here:        `lower_to_qnn(...)`, `run_qnn_pte(...)`, `QnnPteSession` (a .pte loaded once, run many times).
The child:   edge_export.runtimes.qnn.lowering_child, run through edge_export.child.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from edge_export.errors import EdgeExportError
from edge_export.runtimes.qnn import sdk as sdk_module
from edge_export.runtimes.qnn.sdk import QnnSdk, QnnWorkerError, find_qnn_sdk

if TYPE_CHECKING:  # torch stays out of module import time
    import torch

CHILD = "edge_export.runtimes.qnn.lowering_child"
PRECISIONS = ("fp16", "int8")
DEFAULT_CHIPSET = "SM8650"
QUANT_DTYPES = ("use_8a8w", "use_16a8w", "use_16a16w", "use_8a4w", "use_16a4w")
ACT_OBSERVERS = ("minmax", "moving_average", "histogram")


# ---------------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------------


def list_chipsets() -> dict[str, str]:
    """QcomChipset names ExecuTorch knows -> HTP arch ("SM8650" -> "v75"). Imports no torch."""
    from executorch.backends.qualcomm.serialization import qc_schema

    out: dict[str, str] = {}
    for chip, info in qc_schema._soc_info_table.items():
        arch = getattr(getattr(info, "htp_info", None), "htp_arch", None)
        out[chip.name] = f"v{int(arch)}" if arch is not None else "?"
    return out


def check_chipset(name: str) -> str:
    """Normalise a chipset name ("sm8650" -> "SM8650"); EdgeExportError naming the choices if unknown."""
    chips = list_chipsets()
    key = name.strip().upper()
    if key not in chips:
        raise EdgeExportError(f"unknown QNN chipset {name!r}: choose from {', '.join(sorted(chips))}")
    return key


@dataclass
class QnnLoweringResult:
    pte_path: Path
    chipset: str
    htp_arch: str
    precision: str  # "fp16" | "int8"
    quant_dtype: str | None  # "use_8a8w" ... for int8
    size_bytes: int
    seconds_quantize: float | None  # prepare + calibrate + convert (int8), in the child
    seconds_lower: float  # to_edge_transform_and_lower_to_qnn + to_executorch, in the child
    seconds_total: float  # wall time of the child process, including imports
    subgraphs: int
    delegated_ops: dict[str, int]
    fallback_ops: dict[str, int]
    qairt_version: str
    uses_compat_shim: bool
    fake_quant_outputs: list[list["torch.Tensor"]] | None = None  # int8 + reference_inputs
    run: "QnnRunResult | None" = None  # verify_inputs: the new .pte run in the same child process
    etrecord_path: Path | None = None

    @property
    def delegated_nodes(self) -> int:
        return sum(self.delegated_ops.values())

    @property
    def fallback_nodes(self) -> int:
        return sum(self.fallback_ops.values())


@dataclass
class QnnRunResult:
    outputs: list[list["torch.Tensor"]]  # one list of output tensors per input tuple
    seconds: list[float]  # per execute() call (HTP *simulator* time on x86, not device latency)
    load_seconds: float
    etdump_path: Path | None = None


@dataclass(frozen=True)
class QnnJob:
    """One lowering of the same model: a chipset, a precision and where the .pte goes."""

    chipset: str
    precision: str  # "fp16" | "int8"
    out_path: str | Path
    etrecord_path: str | Path | None = None


def lower_to_qnn(
    model: "torch.nn.Module | torch.export.ExportedProgram",
    example_inputs: tuple["torch.Tensor", ...],
    out_path: str | Path,
    *,
    sdk: QnnSdk | None = None,
    chipset: str = DEFAULT_CHIPSET,
    precision: str = "fp16",
    calibration: Iterable[tuple["torch.Tensor", ...]] | None = None,
    quant_dtype: str = "use_8a8w",
    per_channel_conv: bool = True,
    per_channel_linear: bool = False,
    act_observer: str | None = None,
    reference_inputs: Sequence[tuple["torch.Tensor", ...]] | None = None,
    verify_inputs: Sequence[tuple["torch.Tensor", ...]] | None = None,
    profile_level: int = 0,
    etrecord_path: str | Path | None = None,
    timeout: float | None = 3600,
    workdir: str | Path | None = None,
) -> QnnLoweringResult:
    """Export (if needed) in this process, then quantize (int8) and lower to QNN HTP in a child process.

    model: an eval-mode nn.Module (exported here with torch.export.export) or an ExportedProgram.
    calibration: input tuples for int8 calibration (required for int8).
    act_observer: int8 activation observer, one of ACT_OBSERVERS ("minmax", "moving_average" - QnnQuantizer's
        default, whose ranges hardly move after the first batch -, "histogram"); None keeps the default.
    reference_inputs: for int8, also return the fake-quantized model's outputs on these inputs.
    verify_inputs: also run the new .pte on these inputs with executorch.runtime in the same child
        (saves a second child's ~5-10 s of imports); outputs in result.run.
    profile_level: 0 off, 2 detailed, 3 optrace (per-op QNN events in ETDump).
    Raises EdgeExportError on bad arguments, QnnSdkError if no SDK, QnnWorkerError if the child fails.
    """
    job = QnnJob(chipset, precision, out_path, etrecord_path)
    return lower_to_qnn_many(
        model, example_inputs, [job], sdk=sdk, calibration=calibration, quant_dtype=quant_dtype,
        per_channel_conv=per_channel_conv, per_channel_linear=per_channel_linear,
        act_observer=act_observer, reference_inputs=reference_inputs, verify_inputs=verify_inputs,
        profile_level=profile_level, timeout=timeout, workdir=workdir,
    )[0]


def lower_to_qnn_many(
    model: "torch.nn.Module | torch.export.ExportedProgram",
    example_inputs: tuple["torch.Tensor", ...],
    jobs: Sequence[QnnJob],
    *,
    sdk: QnnSdk | None = None,
    calibration: Iterable[tuple["torch.Tensor", ...]] | None = None,
    quant_dtype: str = "use_8a8w",
    per_channel_conv: bool = True,
    per_channel_linear: bool = False,
    act_observer: str | None = None,
    reference_inputs: Sequence[tuple["torch.Tensor", ...]] | None = None,
    verify_inputs: Sequence[tuple["torch.Tensor", ...]] | None = None,
    profile_level: int = 0,
    timeout: float | None = 3600,
    workdir: str | Path | None = None,
) -> list[QnnLoweringResult]:
    """`lower_to_qnn` for several (chipset, precision) jobs in ONE child process (imports paid once).

    `timeout` covers the whole child. Results come back in job order.
    """
    import torch

    norm = _checked_jobs(jobs, quant_dtype, act_observer)
    any_int8 = any(j.precision == "int8" for j in norm)
    calib = [tuple(b) for b in calibration] if calibration is not None else []
    if any_int8 and not calib:
        raise EdgeExportError("QNN int8 needs calibration inputs: pass calibration=[(tensor, ...), ...]")
    sdk = sdk or find_qnn_sdk()
    if isinstance(model, torch.export.ExportedProgram):
        program = model
    else:
        program = torch.export.export(model.eval(), tuple(example_inputs))

    with contextlib.ExitStack() as stack:
        if workdir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-export-qnn-")))
        else:
            work = Path(workdir)
            work.mkdir(parents=True, exist_ok=True)
        torch.export.save(program, work / "program.pt2")
        torch.save(tuple(t.detach().cpu() for t in example_inputs), work / "example_inputs.pt")

        def saved(batches, name):
            torch.save([tuple(t.detach().cpu() for t in b) for b in batches], work / name)
            return name

        request = {
            "program": "program.pt2",
            "example_inputs": "example_inputs.pt",
            "calibration": saved(calib, "calibration.pt") if any_int8 else None,
            "reference_inputs": saved(reference_inputs, "reference_inputs.pt")
            if (reference_inputs and any_int8) else None,
            "verify_inputs": saved(verify_inputs, "verify_inputs.pt") if verify_inputs else None,
            "quant_dtype": quant_dtype,
            "per_channel_conv": per_channel_conv,
            "per_channel_linear": per_channel_linear,
            "act_observer": act_observer,
            "profile_level": int(profile_level),
            "jobs": [_job_files(i, j) for i, j in enumerate(norm)],
        }
        label = ", ".join(f"{j.chipset} {j.precision}" for j in norm)
        t0 = time.perf_counter()
        _in_qnn_child("lower", request, sdk, work, timeout, f"QNN lowering ({label})")
        wall = time.perf_counter() - t0
        return [
            _job_result(job, spec, work, sdk, wall, quant_dtype, bool(verify_inputs))
            for job, spec in zip(norm, request["jobs"])
        ]


def _checked_jobs(jobs: Sequence[QnnJob], quant_dtype: str, act_observer: str | None) -> list[QnnJob]:
    if not jobs:
        raise EdgeExportError("no QNN lowering jobs given")
    norm: list[QnnJob] = []
    for job in jobs:
        precision = job.precision.lower()
        if precision not in PRECISIONS:
            raise EdgeExportError(f"unknown QNN precision {job.precision!r}: choose from {', '.join(PRECISIONS)}")
        norm.append(QnnJob(check_chipset(job.chipset), precision, Path(job.out_path),
                           Path(job.etrecord_path) if job.etrecord_path else None))
    if any(j.precision == "int8" for j in norm) and quant_dtype not in QUANT_DTYPES:
        raise EdgeExportError(f"unknown QNN quant dtype {quant_dtype!r}: choose from {', '.join(QUANT_DTYPES)}")
    if act_observer is not None and act_observer not in ACT_OBSERVERS:
        raise EdgeExportError(f"unknown activation observer {act_observer!r}: choose from {', '.join(ACT_OBSERVERS)}")
    return norm


def _job_files(i: int, job: QnnJob) -> dict:
    """Where the child writes job i's program, report and outputs (names inside the work folder)."""
    return {
        "chipset": job.chipset,
        "precision": job.precision,
        "out": f"job{i}.pte",
        "report": f"job{i}.json",
        "etrecord": f"job{i}.etrecord" if job.etrecord_path else None,
        "fake_quant_outputs": f"job{i}.fq.pt",
        "verify_outputs": f"job{i}.verify.pt",
    }


def _job_result(job: QnnJob, spec: dict, work: Path, sdk: QnnSdk, wall: float, quant_dtype: str,
                verified: bool) -> QnnLoweringResult:
    """Copy one job's files out of the work folder and read its report."""
    import torch

    report = json.loads((work / spec["report"]).read_text())
    out_path = Path(job.out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(work / spec["out"], out_path)
    etr = None
    if job.etrecord_path and (work / spec["etrecord"]).exists():
        etr = Path(job.etrecord_path)
        shutil.copyfile(work / spec["etrecord"], etr)
    fq_file = work / spec["fake_quant_outputs"]
    run = None
    if verified:
        run = QnnRunResult(
            outputs=torch.load(work / spec["verify_outputs"]),
            seconds=report["run"]["seconds"],
            load_seconds=report["run"]["load_seconds"],
        )
    return QnnLoweringResult(
        pte_path=out_path,
        chipset=job.chipset,
        htp_arch=report["htp_arch"],
        precision=job.precision,
        quant_dtype=quant_dtype if job.precision == "int8" else None,
        size_bytes=out_path.stat().st_size,
        seconds_quantize=report.get("seconds_quantize"),
        seconds_lower=report["seconds_lower"],
        seconds_total=wall,
        subgraphs=report["subgraphs"],
        delegated_ops=report["delegated_ops"],
        fallback_ops=report["fallback_ops"],
        qairt_version=sdk.qairt_version,
        uses_compat_shim=sdk.uses_compat_shim,
        fake_quant_outputs=torch.load(fq_file) if fq_file.exists() else None,
        run=run,
        etrecord_path=etr,
    )


def run_qnn_pte(
    pte_path: str | Path,
    inputs: Sequence[tuple["torch.Tensor", ...]],
    *,
    sdk: QnnSdk | None = None,
    etdump_path: str | Path | None = None,
    debug_buffer_size: int = 0,
    timeout: float | None = 3600,
) -> QnnRunResult:
    """Run a QNN .pte with executorch.runtime in a child process (x86: the HTP simulator), once per input tuple."""
    import torch

    sdk = sdk or find_qnn_sdk()
    pte_path = Path(pte_path).resolve()
    if not pte_path.is_file():
        raise EdgeExportError(f"no such program file {pte_path}")
    with tempfile.TemporaryDirectory(prefix="edge-export-qnn-run-") as tmp:
        work = Path(tmp)
        torch.save([tuple(t.detach().cpu() for t in b) for b in inputs], work / "inputs.pt")
        request = {
            "pte": str(pte_path),
            "inputs": "inputs.pt",
            "outputs": "outputs.pt",
            "etdump": "run.etdp" if etdump_path else None,
            "debug_buffer_size": int(debug_buffer_size),
        }
        report = _in_qnn_child("run", request, sdk, work, timeout, "QNN run")
        outputs = torch.load(work / "outputs.pt")
        etd = None
        if etdump_path and (work / "run.etdp").exists():
            etd = Path(etdump_path)
            shutil.copyfile(work / "run.etdp", etd)
        return QnnRunResult(
            outputs=outputs, seconds=report["seconds"], load_seconds=report["load_seconds"], etdump_path=etd,
        )


class QnnPteSession:
    """A QNN .pte loaded ONCE in a child process (x86: the HTP simulator) and executed on request.

    A child pays ~5-15 s to start (imports, QNN backend load, context deserialisation); a session pays
    it once and then costs only the executions, so a runner can keep Runner's per-call interface.
    Requests and replies are edge_export.child's session protocol; arrays cross as .npy files in a
    private temporary directory. A crash or abort in QNN ends the child only: the parent gets a one-line
    QnnWorkerError with the log's telling line.
    """

    def __init__(
        self,
        pte_path: str | Path,
        *,
        sdk: QnnSdk | None = None,
        enable_etdump: bool = False,
        debug_buffer_size: int = 0,
        timeout: float | None = 900,
    ):
        from edge_export.child import Session

        self.sdk = sdk or find_qnn_sdk()
        self.pte_path = Path(pte_path).resolve()
        if not self.pte_path.is_file():
            raise EdgeExportError(f"no such program file {self.pte_path}")
        self._tmp = tempfile.TemporaryDirectory(prefix="edge-export-qnn-session-")
        self.work = Path(self._tmp.name)
        self._n = 0
        init = {"pte": str(self.pte_path), "etdump": enable_etdump, "debug_buffer_size": int(debug_buffer_size)}
        try:
            self._session = Session(f"{CHILD}:serve", init, what=f"QNN session with {self.sdk.describe()}",
                                    cwd=self.work, env=sdk_module.qnn_subprocess_env(self.sdk),
                                    log_path=self.work / "child.log", timeout=timeout, failed=QnnWorkerError)
        except BaseException:
            self._tmp.cleanup()
            raise
        ready = self._session.ready
        if not ready.get("ok"):
            log = self._session.log
            self.close()
            raise QnnWorkerError(f"QNN session failed while loading {self.pte_path.name}: {ready.get('error')}", log=log)
        self.load_seconds: float = ready["load_seconds"]

    @property
    def log(self) -> str:
        return self._session.log

    @property
    def pid(self) -> int:
        """The child's process id (one child per session, whatever the number of runs)."""
        return self._session.proc.pid

    def run(self, batches: Sequence[Sequence[Any]]) -> tuple[list[list[Any]], list[float]]:
        """Execute once per input tuple (numpy arrays or tensors). Returns (outputs as numpy, seconds per call)."""
        import numpy as np

        items = []
        for batch in batches:
            paths = []
            for arr in batch:
                self._n += 1
                path = self.work / f"in{self._n}.npy"
                a = arr.detach().cpu().numpy() if hasattr(arr, "detach") else np.asarray(arr)
                np.save(path, np.ascontiguousarray(a))
                paths.append(str(path))
            items.append(paths)
        reply = self._request({"cmd": "run", "items": items, "prefix": f"out{self._n}"}, f"executing {self.pte_path.name}")
        outputs = []
        for paths in reply["outputs"]:
            outputs.append([np.load(p) for p in paths])
            for p in paths:
                Path(p).unlink(missing_ok=True)
        for paths in items:
            for p in paths:
                Path(p).unlink(missing_ok=True)
        return outputs, reply["seconds"]

    def write_etdump(self, path: str | Path, debug_path: str | Path | None = None) -> Path:
        """Write the ETDump of every execution so far (needs enable_etdump=True)."""
        path = Path(path).resolve()
        debug = Path(debug_path).resolve() if debug_path else path.with_name(path.name + ".debug")
        self._request({"cmd": "etdump", "path": str(path), "debug_path": str(debug)}, "writing the ETDump")
        return path

    def _request(self, obj: dict, what: str) -> dict:
        reply = self._session.request(obj, what)
        if not reply.get("ok"):
            raise QnnWorkerError(f"QNN session failed while {what}: {reply.get('error', 'unknown error')}", log=self.log)
        return reply

    def close(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None:
            session.close()
        self._tmp.cleanup()

    def __enter__(self) -> "QnnPteSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _in_qnn_child(func: str, request: dict, sdk: QnnSdk, work: Path, timeout, what: str) -> dict:
    """lowering_child.<func>(request) in a child set up for `sdk`, working in `work`."""
    from edge_export.child import call

    return call(f"{CHILD}:{func}", request, what=what, cwd=work, env=sdk_module.qnn_subprocess_env(sdk),
                timeout=timeout, failed=QnnWorkerError, detail=f" with {sdk.describe()}")


def self_test_library(lib: Path, sdk_like_env: dict[str, str] | None = None, soc_model: int = 57,
                      timeout: float = 120) -> dict[str, Any]:
    """Load an HTP backend library in a child process and create a device with an old-layout SoC config.

    Returns {"build_id", "core_api", "backend_api", "device_create_rc"}; rc 0 means the library accepts
    the layout ExecuTorch 1.5.1 writes, 14001 means it reads the SoC id from elsewhere. Raises
    QnnWorkerError if the child crashes.
    """
    from edge_export.child import call

    return call(f"{CHILD}:selftest", {"lib": str(lib), "soc_model": int(soc_model)}, what=f"loading {lib}",
                cwd=lib.parent, env=sdk_like_env, timeout=timeout, failed=QnnWorkerError)
