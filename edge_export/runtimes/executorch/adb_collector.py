"""ExecuTorch on an Android device over adb: the user's ``executor_runner`` (built with ETDump) runs the
artifact's .pte; the ETDump comes back and is attributed exactly like the host collector's.

Steps: push the .pte, the program input (the manifest's validation image, preprocessed like the host
collector's, as raw bytes for ``--inputs``) and the runner into /data/local/tmp/edge-export/...; run

    executor_runner --model_path=M --inputs=IN --num_executions=W+N --etdump_path=E --cpu_threads=T

(flag names from ExecuTorch's examples/portable/executor_runner/executor_runner.cpp); pull the ETDump;
rows via ``edge_export.runtimes.executorch.host_collector.rows_from_etdump`` (same XNNPACK attribution as on the
host). Whole-run latencies are the runner's own "Iteration i of N: X ms" log lines (wall time around
``Method::execute``); the first W executions are the warm-up and are skipped everywhere. A runner without
the event tracer (no --etdump_path flag) is a clear error; a runner too old for --cpu_threads or --inputs
is retried without that flag and the profile says so.

Options: ``executor_runner`` (path on the host; else $EDGE_EXPORT_EXECUTOR_RUNNER), plus those of
edge_export.devices.adb_common. If the device disconnects at any point, DeviceDisconnected is raised and
no profile is returned (nothing partial is written as complete).

Only exercised with the stand-in adb and stand-in runner of tests/fake_adb (real ExecuTorch runtime on
this x86 host, real ETDump); no real phone was exercised.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from edge_export.artifacts import check_program_file
from edge_export.devices import adb_common as common
from edge_export.errors import EdgeExportError
from edge_export.profile.schema import Profile
from edge_export.profile.template import build_profile, program_input
from edge_export.runtimes.executorch.host_collector import rows_from_etdump
from edge_export.versions import package_version

RUNNER_ENV = "EDGE_EXPORT_EXECUTOR_RUNNER"
RUNNER_HOW = ("build ExecuTorch's examples/portable/executor_runner for Android arm64 with the event tracer "
              "(-DEXECUTORCH_ENABLE_EVENT_TRACER=ON -DEXECUTORCH_BUILD_DEVTOOLS=ON, and XNNPACK)")
RUN_TIMEOUT_S = 1800.0
_OPTIONAL_FLAGS = ("cpu_threads", "inputs")

_ITER_RX = re.compile(r"Iteration (\d+) of (\d+): ([0-9.]+) ms")
_LOADED_RX = re.compile(r"Model loaded in ([0-9.]+) ms")
_UNKNOWN_FLAG_RX = re.compile(r"unknown command line flag '([^']+)'")


def parse_runner_log(text: str) -> tuple[list[float], float | None]:
    """Per-execution wall times (ms, in order) and the load time (ms) from executor_runner's log."""
    iters = sorted((int(m.group(1)), float(m.group(3))) for m in _ITER_RX.finditer(text))
    load = _LOADED_RX.search(text)
    return [ms for _, ms in iters], (float(load.group(1)) if load else None)


def _run_runner(dev, runner: Path, flags: dict[str, str], rdir: str, notes: list[str]):
    """executor_runner with `flags`; a flag an older runner does not know (optional ones) is dropped, said in
    `notes`, and the run repeated. Its ShellResult, or one line on failure."""
    while True:
        res = common.run_on_device(dev, ["./executor_runner"] + [f"--{k}={v}" for k, v in flags.items()],
                                   rdir, RUN_TIMEOUT_S, "executor_runner")
        unknown = _UNKNOWN_FLAG_RX.search(res.output)
        if res.status != 0 and unknown and unknown.group(1) in _OPTIONAL_FLAGS and unknown.group(1) in flags:
            flags.pop(unknown.group(1))
            notes.append(f"this executor_runner has no --{unknown.group(1)} flag: "
                         + ("threads were its default" if unknown.group(1) == "cpu_threads"
                            else "it ran on its default input (all ones), not the validation image"))
            continue
        break
    if res.status != 0:
        if unknown and unknown.group(1) == "etdump_path":
            raise EdgeExportError(f"{runner} was built without the event tracer (no --etdump_path): {RUNNER_HOW}")
        raise EdgeExportError(f"executor_runner failed on {dev.serial} (exit status {res.status}): "
                              f"{common.tail(res.output)}")
    return res


def _pull_etdump(dev, remote: str, local: Path, log: str, rdir: str, keep: bool) -> None:
    """The runner's ETDump to `local`, then the device's files removed (unless `keep`)."""
    if not dev.exists(remote):
        raise EdgeExportError(f"executor_runner on {dev.serial} wrote no ETDump at {remote}: {RUNNER_HOW} "
                              f"(its log ends: {common.tail(log, 3)})")
    dev.pull(remote, local)
    common.cleanup(dev, rdir, keep)
    if local.stat().st_size == 0:
        raise EdgeExportError(f"the ETDump pulled from {dev.serial} is empty: re-run the profile")


def collect(req) -> Profile:
    manifest = req.manifest
    opts = dict(req.options or {})
    model = check_program_file(req.artifact_dir, manifest)
    runner = common.tool_path(opts, "executor_runner", RUNNER_ENV, "executor_runner", RUNNER_HOW)
    keep = common.flag(opts.get("keep_remote"))
    dev = common.device_for(req)
    device_info = dev.info()
    x, image = program_input(manifest)
    warm = max(req.warmup, 1)  # as on the host: the first execution is never measured
    n_exec = warm + req.runs

    rdir = common.remote_dir(manifest, "executorch")
    r_model, r_input, r_runner, r_etdump = (f"{rdir}/{model.name}", f"{rdir}/input.bin", f"{rdir}/executor_runner",
                                           f"{rdir}/run.etdump")
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="adb-executorch-") as tmp:
        tmp = Path(tmp)
        x.tofile(tmp / "input.bin")
        req.progress(f"pushing {model.name}, input and executor_runner to {rdir}")
        dev.mkdir(rdir)
        dev.remove(r_etdump)
        dev.push(model, r_model)
        dev.push(tmp / "input.bin", r_input)
        dev.push_executable(runner, r_runner)

        flags = {"model_path": r_model, "inputs": r_input, "num_executions": str(n_exec), "etdump_path": r_etdump,
                 "cpu_threads": str(req.threads)}
        req.progress(f"executor_runner, {warm} warm-up + {req.runs} executions, {req.threads} thread(s)")
        res = _run_runner(dev, runner, flags, rdir, notes)
        iters, load_ms = parse_runner_log(res.output)
        local_etdump = tmp / "run.etdump"
        req.progress("pulling the ETDump")
        _pull_etdump(dev, r_etdump, local_etdump, res.output, rdir, keep)
        req.progress("attributing operator events to modules")
        with common.ATTRIBUTION_LOCK:
            rows, more = rows_from_etdump(req.artifact_dir, manifest, local_etdump, warm)
        notes += more
        if not iters:
            from edge_export.attribution.etdump import read_etdump_profile

            times = read_etdump_profile(local_etdump).method_times
            iters = [times[r] / 1e6 for r in sorted(times)]
            notes.append("this executor_runner logs no per-iteration times: whole-run latency is ETDump's "
                         "Method::execute")

    if len(iters) < n_exec:
        raise EdgeExportError(f"executor_runner on {dev.serial} reported {len(iters)} of {n_exec} executions: "
                              "the run is incomplete, nothing was written")
    measured = iters[warm:]
    notes.insert(0, f"ran on {dev.serial} ({device_info.get('model', '?')}, {device_info.get('soc', '?')}) with "
                    f"{runner.name} over adb; whole-run latency = the runner's per-iteration wall time around "
                    "Method::execute with ETDump op profiling on")
    return build_profile(
        req, where=f"adb:{dev.serial}", device=device_info, runtime_version=package_version("executorch"),
        collector="executor_runner-etdump", runs=len(measured),
        warmup=warm, latency_ms=measured, load_ms=load_ms, first_run_ms=iters[0], rows=rows, notes=notes,
        options={"runner": str(runner), "input": f"image:{image}" if "inputs" in flags else "ones",
                 "runtime_version_note": "version of the host's executorch package; the runner's is not reported"},
    )


__all__ = ["collect", "parse_runner_log"]
