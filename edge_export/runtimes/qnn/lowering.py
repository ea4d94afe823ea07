"""Lower to and run ExecuTorch's QNN (HTP) backend in a child process.

Why a child: ExecuTorch finds libQnnHtp.so through LD_LIBRARY_PATH, which the loader reads only at
process start; a broken SDK aborts the process (C++ assert) instead of raising; and lowering writes
files (forward_schematic.bin ...) into the current directory. So the parent exports the model,
hands it over as files in a temporary directory, and reads back a .pte and a JSON report.

Parent side:  `lower_to_qnn(...)`, `run_qnn_pte(...)`, `QnnPteSession` (a .pte loaded once, run many times).
Child side:   `python -m edge_export.runtimes.qnn.lowering {lower,run,serve,selftest} ...` (internal).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from edge_export.errors import EdgeExportError
from edge_export.runtimes.qnn.sdk import (
    QnnSdk,
    QnnWorkerError,
    find_qnn_sdk,
    python_argv,
    run_in_qnn_env,
    with_package_on_pythonpath,
)

if TYPE_CHECKING:  # torch stays out of module import time
    import torch

WORKER_MODULE = "edge_export.runtimes.qnn.lowering"
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
    log: str = field(default="", repr=False)

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
    log: str = field(default="", repr=False)


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

    if not jobs:
        raise EdgeExportError("no QNN lowering jobs given")
    norm: list[QnnJob] = []
    for job in jobs:
        precision = job.precision.lower()
        if precision not in PRECISIONS:
            raise EdgeExportError(f"unknown QNN precision {job.precision!r}: choose from {', '.join(PRECISIONS)}")
        norm.append(QnnJob(check_chipset(job.chipset), precision, Path(job.out_path),
                           Path(job.etrecord_path) if job.etrecord_path else None))
    any_int8 = any(j.precision == "int8" for j in norm)
    if any_int8 and quant_dtype not in QUANT_DTYPES:
        raise EdgeExportError(f"unknown QNN quant dtype {quant_dtype!r}: choose from {', '.join(QUANT_DTYPES)}")
    if act_observer is not None and act_observer not in ACT_OBSERVERS:
        raise EdgeExportError(f"unknown activation observer {act_observer!r}: choose from {', '.join(ACT_OBSERVERS)}")
    calib = [tuple(b) for b in calibration] if calibration is not None else []
    if any_int8 and not calib:
        raise EdgeExportError("QNN int8 needs calibration inputs: pass calibration=[(tensor, ...), ...]")
    sdk = sdk or find_qnn_sdk()

    if isinstance(model, torch.export.ExportedProgram):
        program = model
    else:
        program = torch.export.export(model.eval(), tuple(example_inputs))

    def _save_batches(batches, name):
        torch.save([tuple(t.detach().cpu() for t in b) for b in batches], work / name)
        return name

    tmp_owner = None
    if workdir is None:
        tmp_owner = tempfile.TemporaryDirectory(prefix="edge-export-qnn-")
        work = Path(tmp_owner.name)
    else:
        work = Path(workdir)
        work.mkdir(parents=True, exist_ok=True)
    try:
        torch.export.save(program, work / "program.pt2")
        torch.save(tuple(t.detach().cpu() for t in example_inputs), work / "example_inputs.pt")
        request = {
            "program": "program.pt2",
            "example_inputs": "example_inputs.pt",
            "calibration": _save_batches(calib, "calibration.pt") if any_int8 else None,
            "reference_inputs": _save_batches(reference_inputs, "reference_inputs.pt")
            if (reference_inputs and any_int8) else None,
            "verify_inputs": _save_batches(verify_inputs, "verify_inputs.pt") if verify_inputs else None,
            "quant_dtype": quant_dtype,
            "per_channel_conv": per_channel_conv,
            "per_channel_linear": per_channel_linear,
            "act_observer": act_observer,
            "profile_level": int(profile_level),
            "jobs": [
                {
                    "chipset": j.chipset,
                    "precision": j.precision,
                    "out": f"job{i}.pte",
                    "report": f"job{i}.json",
                    "etrecord": f"job{i}.etrecord" if j.etrecord_path else None,
                    "fake_quant_outputs": f"job{i}.fq.pt",
                    "verify_outputs": f"job{i}.verify.pt",
                }
                for i, j in enumerate(norm)
            ],
        }
        (work / "request.json").write_text(json.dumps(request, indent=1))
        label = ", ".join(f"{j.chipset} {j.precision}" for j in norm)
        t0 = time.perf_counter()
        proc = run_in_qnn_env(
            python_argv(WORKER_MODULE, "lower", "request.json"), sdk, work, timeout=timeout,
            what=f"QNN lowering ({label})",
        )
        wall = time.perf_counter() - t0
        results = []
        for job, spec in zip(norm, request["jobs"]):
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
            if verify_inputs:
                run = QnnRunResult(
                    outputs=torch.load(work / spec["verify_outputs"]),
                    seconds=report["run"]["seconds"],
                    load_seconds=report["run"]["load_seconds"],
                )
            results.append(QnnLoweringResult(
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
                log=proc.stdout,
            ))
        return results
    finally:
        if tmp_owner is not None:
            tmp_owner.cleanup()


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
            "report": "report.json",
        }
        (work / "request.json").write_text(json.dumps(request))
        proc = run_in_qnn_env(
            python_argv(WORKER_MODULE, "run", "request.json"), sdk, work, timeout=timeout, what="QNN run"
        )
        report = json.loads((work / "report.json").read_text())
        outputs = torch.load(work / "outputs.pt")
        etd = None
        if etdump_path and (work / "run.etdp").exists():
            etd = Path(etdump_path)
            shutil.copyfile(work / "run.etdp", etd)
        return QnnRunResult(
            outputs=outputs, seconds=report["seconds"], load_seconds=report["load_seconds"], etdump_path=etd,
            log=proc.stdout,
        )


class QnnPteSession:
    """A QNN .pte loaded ONCE in a child process (x86: the HTP simulator) and executed on request.

    A child pays ~5-15 s to start (imports, QNN backend load, context deserialisation); a session pays
    it once and then costs only the executions, so a runner can keep Runner's per-call interface.
    Requests and replies are JSON lines over the child's stdin and its original stdout (the child
    redirects its own fd 1 to a log file so QNN's native logging cannot corrupt the channel); arrays
    cross as .npy files in a private temporary directory. A crash or abort in QNN ends the child only:
    the parent gets a one-line QnnWorkerError with the log's telling line.
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
        import subprocess

        from edge_export.runtimes.qnn.sdk import qnn_subprocess_env

        self.sdk = sdk or find_qnn_sdk()
        self.pte_path = Path(pte_path).resolve()
        if not self.pte_path.is_file():
            raise EdgeExportError(f"no such program file {self.pte_path}")
        self.timeout = timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="edge-export-qnn-session-")
        self.work = Path(self._tmp.name)
        self._log_path = self.work / "child.log"
        self._log = open(self._log_path, "wb")
        self._buf = b""
        self._n = 0
        argv = python_argv(WORKER_MODULE, "serve", str(self.pte_path), "--debug-buffer-size", str(int(debug_buffer_size)))
        if enable_etdump:
            argv.append("--etdump")
        self._proc = subprocess.Popen(
            argv, cwd=str(self.work), env=qnn_subprocess_env(self.sdk), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log,
        )
        try:
            ready = self._reply(f"loading {self.pte_path.name}")
        except BaseException:
            self.close()
            raise
        self.load_seconds: float = ready["load_seconds"]

    @property
    def log(self) -> str:
        self._log.flush()
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

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

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.write(b'{"cmd": "quit"}\n')
                proc.stdin.flush()
                proc.stdin.close()
                proc.wait(timeout=30)
            except Exception:
                pass
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        self._proc = None
        if not self._log.closed:
            self._log.close()
        self._tmp.cleanup()

    def __enter__(self) -> "QnnPteSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # a forgotten session must not leave a child behind
        try:
            self.close()
        except Exception:
            pass

    # -- protocol -------------------------------------------------------------------------------
    def _request(self, obj: dict, what: str) -> dict:
        if self._proc is None or self._proc.poll() is not None:
            raise QnnWorkerError(f"QNN session for {self.pte_path.name} is closed", log=self.log)
        try:
            self._proc.stdin.write((json.dumps(obj) + "\n").encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the child died: _reply reports why
        return self._reply(what)

    def _reply(self, what: str) -> dict:
        import os
        import select

        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                self._proc.kill()
                self._proc.wait()
                raise QnnWorkerError(f"QNN session timed out after {self.timeout:.0f} s {what}", log=self.log)
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                code = self._proc.wait()
                from edge_export.runtimes.qnn.sdk import _exit_reason, _last_error_line

                log = self.log
                last = _last_error_line(log)
                raise QnnWorkerError(
                    f"QNN session {_exit_reason(code)} while {what} with {self.sdk.describe()}"
                    + (f": {last}" if last else ""),
                    returncode=code, log=log,
                )
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        reply = json.loads(line)
        if not reply.get("ok"):
            raise QnnWorkerError(f"QNN session failed while {what}: {reply.get('error', 'unknown error')}", log=self.log)
        return reply


def self_test_library(lib: Path, sdk_like_env: dict[str, str] | None = None, soc_model: int = 57,
                      timeout: float = 120) -> dict[str, Any]:
    """Load an HTP backend library in a child process and create a device with an old-layout SoC config.

    Returns {"build_id", "core_api", "backend_api", "device_create_rc"}; rc 0 means the library accepts
    the layout ExecuTorch 1.5.1 writes, 14001 means it reads the SoC id from elsewhere. Raises
    QnnWorkerError if the child crashes.
    """
    import os
    import subprocess

    env = with_package_on_pythonpath(dict(os.environ if sdk_like_env is None else sdk_like_env))
    argv = python_argv(WORKER_MODULE, "selftest", str(lib), str(soc_model))
    try:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout,
                              cwd=str(lib.parent))
    except subprocess.TimeoutExpired:
        raise QnnWorkerError(f"loading {lib} timed out after {timeout:.0f} s") from None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("EDGE_EXPORT_SELFTEST "):
            return json.loads(line.split(" ", 1)[1])
    raise QnnWorkerError(
        f"loading {lib} in a child process failed (exit {proc.returncode})", returncode=proc.returncode,
        log=proc.stdout,
    )


# ---------------------------------------------------------------------------------------------------
# Child side
# ---------------------------------------------------------------------------------------------------


def _op_name(target: Any) -> str:
    name = getattr(target, "__name__", None) or str(target)
    return name


def _delegation_stats(edge_program) -> tuple[int, dict[str, int], dict[str, int]]:
    from executorch.exir.lowered_backend_module import get_lowered_submodules

    gm = edge_program.graph_module
    lowered = get_lowered_submodules(gm)
    delegated: Counter[str] = Counter()
    for _, lm, _ in lowered:
        for node in lm.original_module.graph.nodes:
            if node.op == "call_function" and "getitem" not in _op_name(node.target):
                delegated[_op_name(node.target)] += 1
    fallback: Counter[str] = Counter()
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        name = _op_name(node.target)
        if "executorch_call_delegate" in name or "getitem" in name:
            continue
        fallback[name] += 1
    return len(lowered), dict(delegated), dict(fallback)


def _act_observer(name: str | None):
    if name is None:
        return None  # QnnQuantizer's default for the dtype
    from torchao.quantization.pt2e import observer as obs

    return {"minmax": obs.MinMaxObserver, "moving_average": obs.MovingAverageMinMaxObserver,
            "histogram": obs.HistogramObserver}[name]


def _child_lower(request_path: str) -> int:
    req = json.loads(Path(request_path).read_text())
    import torch
    from executorch.backends.qualcomm.serialization.qc_schema import QcomChipset, _soc_info_table
    from executorch.backends.qualcomm.utils.utils import (
        generate_htp_compiler_spec,
        generate_qnn_executorch_compiler_spec,
        to_edge_transform_and_lower_to_qnn,
    )

    program = torch.export.load(req["program"])
    example = tuple(torch.load(req["example_inputs"]))
    for job in req["jobs"]:
        print(f"edge-export qnn worker: lowering {job['chipset']} {job['precision']}", flush=True)
        chip = QcomChipset[job["chipset"]]
        module = program.module()  # a fresh GraphModule per job (prepare_pt2e changes its input)
        report: dict[str, Any] = {"htp_arch": f"v{int(_soc_info_table[chip].htp_info.htp_arch)}"}

        if job["precision"] == "int8":
            from executorch.backends.qualcomm.quantizer.quantizer import QnnQuantizer, QuantDtype
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

            t = time.perf_counter()
            quantizer = QnnQuantizer(soc_model=chip)
            quantizer.set_default_quant_config(
                QuantDtype[req["quant_dtype"]],
                is_conv_per_channel=req["per_channel_conv"],
                is_linear_per_channel=req["per_channel_linear"],
                act_observer=_act_observer(req.get("act_observer")),
            )
            prepared = prepare_pt2e(module, quantizer)
            with torch.no_grad():
                for batch in torch.load(req["calibration"]):
                    prepared(*batch)
            module = convert_pt2e(prepared)
            if req.get("reference_inputs"):
                with torch.no_grad():
                    fq = []
                    for batch in torch.load(req["reference_inputs"]):
                        out = module(*batch)
                        fq.append([o.detach() for o in (out if isinstance(out, (tuple, list)) else (out,))])
                torch.save(fq, job["fake_quant_outputs"])
            report["seconds_quantize"] = time.perf_counter() - t

        t = time.perf_counter()
        backend = generate_htp_compiler_spec(use_fp16=job["precision"] == "fp16")
        specs = generate_qnn_executorch_compiler_spec(chip, backend, profile_level=req["profile_level"])
        edge = to_edge_transform_and_lower_to_qnn(module, example, specs, generate_etrecord=bool(job["etrecord"]))
        subgraphs, delegated, fallback = _delegation_stats(edge.exported_program())
        et = edge.to_executorch()
        Path(job["out"]).write_bytes(et.buffer)
        report["seconds_lower"] = time.perf_counter() - t
        if job["etrecord"]:
            etrecord = et.get_etrecord() if hasattr(et, "get_etrecord") else None
            if etrecord is not None:
                etrecord.save(job["etrecord"])
        report.update(subgraphs=subgraphs, delegated_ops=delegated, fallback_ops=fallback)
        if req.get("verify_inputs"):
            report["run"] = _execute_pte(job["out"], req["verify_inputs"], job["verify_outputs"])
        Path(job["report"]).write_text(json.dumps(report, indent=1))
    return 0


def _execute_pte(pte: str, inputs_path: str, outputs_path: str, etdump: str | None = None,
                 debug_buffer_size: int = 0) -> dict[str, Any]:
    import torch
    from executorch.runtime import Runtime

    t = time.perf_counter()
    runtime = Runtime.get()
    if etdump:
        program = runtime.load_program(pte, enable_etdump=True, debug_buffer_size=debug_buffer_size)
    else:
        program = runtime.load_program(pte)
    method = program.load_method("forward")
    load_seconds = time.perf_counter() - t
    outputs, seconds = [], []
    for batch in torch.load(inputs_path):
        t = time.perf_counter()
        out = method.execute(list(batch))
        seconds.append(time.perf_counter() - t)
        outputs.append([o.clone() for o in out])
    torch.save(outputs, outputs_path)
    if etdump:
        program.write_etdump_result_to_file(etdump, etdump + ".debug")
    return {"seconds": seconds, "load_seconds": load_seconds}


def _child_run(request_path: str) -> int:
    req = json.loads(Path(request_path).read_text())
    report = _execute_pte(req["pte"], req["inputs"], req["outputs"], req.get("etdump"),
                          req.get("debug_buffer_size", 0))
    Path(req["report"]).write_text(json.dumps(report))
    return 0


def _child_serve(pte: str, enable_etdump: bool, debug_buffer_size: int) -> int:
    """Load `pte` once, then serve JSON-line requests from stdin until "quit" or EOF (see QnnPteSession)."""
    import os

    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # QNN's native logging and any print() go to the log, not the protocol channel

    def reply(obj: dict) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    def error(exc: BaseException) -> dict:
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return {"ok": False, "error": f"{type(exc).__name__}: {first}" if first else type(exc).__name__}

    try:
        import numpy as np
        import torch
        from executorch.runtime import Runtime

        t = time.perf_counter()
        if enable_etdump:
            program = Runtime.get().load_program(pte, enable_etdump=True, debug_buffer_size=debug_buffer_size)
        else:
            program = Runtime.get().load_program(pte)
        method = program.load_method("forward")
        if method is None:
            raise RuntimeError(f"{pte} has no 'forward' method")
        reply({"ok": True, "load_seconds": time.perf_counter() - t})
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        reply(error(exc))
        return 1
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            if req["cmd"] == "quit":
                reply({"ok": True})
                break
            if req["cmd"] == "run":
                outputs, seconds = [], []
                for i, paths in enumerate(req["items"]):
                    inputs = [torch.from_numpy(np.load(p)) for p in paths]
                    t = time.perf_counter()
                    outs = method.execute(inputs)
                    seconds.append(time.perf_counter() - t)
                    names = []
                    for j, o in enumerate(outs):
                        name = f"{req['prefix']}_{i}_{j}.npy"
                        np.save(name, o.detach().numpy() if isinstance(o, torch.Tensor) else np.asarray(o))
                        names.append(str(Path(name).resolve()))
                    outputs.append(names)
                reply({"ok": True, "outputs": outputs, "seconds": seconds})
            elif req["cmd"] == "etdump":
                if not enable_etdump:
                    raise RuntimeError("the session was started without ETDump")
                program.write_etdump_result_to_file(req["path"], req["debug_path"])
                reply({"ok": True})
            else:
                raise ValueError(f"unknown command {req['cmd']!r}")
        except Exception as exc:  # noqa: BLE001 - reported to the parent, the session goes on
            reply(error(exc))
    return 0


def _child_selftest(lib: str, soc_model: str) -> int:
    """ctypes-only: no torch, no ExecuTorch. Prints one EDGE_EXPORT_SELFTEST JSON line."""
    import ctypes

    class Iface(ctypes.Structure):  # QnnInterface_t prefix; see htp_compat_shim.c
        _fields_ = [
            ("backendId", ctypes.c_uint32),
            ("providerName", ctypes.c_char_p),
            ("versions", ctypes.c_uint32 * 6),
            ("table", ctypes.c_void_p * 44),
        ]

    class OldSocConfig(ctypes.Structure):  # QNN 2.37 QnnHtpDevice_CustomConfig_t, option SOC
        _fields_ = [("option", ctypes.c_uint32), ("socModel", ctypes.c_uint32), ("pad", ctypes.c_uint32)]

    class DeviceConfig(ctypes.Structure):  # QnnDevice_Config_t
        _fields_ = [("option", ctypes.c_uint32), ("customConfig", ctypes.c_void_p)]

    handle = ctypes.CDLL(lib, mode=ctypes.RTLD_LOCAL)
    providers = ctypes.POINTER(ctypes.POINTER(Iface))()
    count = ctypes.c_uint32()
    rc = handle.QnnInterface_getProviders(ctypes.byref(providers), ctypes.byref(count))
    result: dict[str, Any] = {"get_providers_rc": int(rc) & 0xFFFF, "providers": int(count.value)}
    if rc == 0 and count.value:
        p = providers[0].contents
        v = list(p.versions)
        result["core_api"] = f"{v[0]}.{v[1]}.{v[2]}"
        result["backend_api"] = f"{v[3]}.{v[4]}.{v[5]}"
        build_id = ctypes.c_char_p()
        ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.POINTER(ctypes.c_char_p))(p.table[4])(ctypes.byref(build_id))
        result["build_id"] = (build_id.value or b"").decode(errors="replace")
        create = ctypes.CFUNCTYPE(
            ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
        )(p.table[40])
        soc = OldSocConfig(0, int(soc_model), 0)
        cfg = DeviceConfig(0, ctypes.cast(ctypes.pointer(soc), ctypes.c_void_p))
        cfgs = (ctypes.c_void_p * 2)(ctypes.cast(ctypes.pointer(cfg), ctypes.c_void_p), None)
        device = ctypes.c_void_p()
        rc = create(None, cfgs, ctypes.byref(device))
        result["device_create_rc"] = int(rc) & 0xFFFF
        if rc == 0 and device.value and p.table[43]:
            ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)(p.table[43])(device)
    sys.stdout.flush()
    print("EDGE_EXPORT_SELFTEST " + json.dumps(result), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=WORKER_MODULE, description="internal QNN worker (run by edge-export)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("lower").add_argument("request")
    sub.add_parser("run").add_argument("request")
    sv = sub.add_parser("serve")
    sv.add_argument("pte")
    sv.add_argument("--etdump", action="store_true")
    sv.add_argument("--debug-buffer-size", type=int, default=0)
    st = sub.add_parser("selftest")
    st.add_argument("lib")
    st.add_argument("soc_model")
    args = parser.parse_args(argv)
    if args.cmd == "lower":
        return _child_lower(args.request)
    if args.cmd == "run":
        return _child_run(args.request)
    if args.cmd == "serve":
        return _child_serve(args.pte, args.etdump, args.debug_buffer_size)
    return _child_selftest(args.lib, args.soc_model)


if __name__ == "__main__":
    sys.exit(main())
