"""Run a .tflite on Arm kernels: LiteRT's aarch64 build in Debian's arm64 Python under QEMU user-mode.

One guest process per call (guest.py): inputs and outputs cross as .npy files in a temporary folder. XNNPACK's
cpuinfo reads /proc/cpuinfo and crashes on the host's x86 one under QEMU 7.2; QEMU 10 emulates an aarch64 one, but
with QEMU's own MIDR. So the guest runs in a private mount namespace with an arm64 cpuinfo bound over /proc/cpuinfo
(cpus.cpuinfo_text: each model's CPU id, whatever the QEMU): `unshare -m` as root, `unshare -Urm` (a user
namespace) otherwise. A run's `reliable`/`note` are the CPU level's as this runtime has it (cpus.get_cpu(name, env):
the SME level by setup's SMOPA check). Times are QEMU's: what an op costs relative to another on the same
emulated CPU, never device latency.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_export.arm.cpus import DEFAULT_CPU, CpuModel, cpuinfo_text, decode_hwcaps, get_cpu
from edge_export.arm.provision import ArmEnv
from edge_export.errors import EdgeExportError

EMULATED = "emulated: relative cost only"
GUEST = Path(__file__).with_name("guest.py")
_MOUNT_FAILED = 97  # the wrapper's exit code when the bind mount is refused
_WRAPPER = f'mount --bind "$0" /proc/cpuinfo || exit {_MOUNT_FAILED}; exec "$@"'


@dataclass
class ArmRun:
    """One guest run. Unpacks as `outputs, timings = run_tflite(...)`; the rest says where the numbers came from."""

    outputs: list[np.ndarray]  # of the first input set
    timings: dict  # load_s, invoke_s (per set and repeat), median_s, label=EMULATED
    cpu: str
    qemu_cpu: str
    level: str
    reliable: bool
    features: list[str]  # the hwcaps the guest saw (getauxval), i.e. what XNNPACK dispatched on
    kernels: str  # "xnnpack" (LiteRT's default delegate took >= 1 partition) or "builtin"
    delegate_partitions: int
    threads: int
    versions: dict = field(default_factory=dict)
    note: str = ""
    set_outputs: list[list[np.ndarray]] = field(default_factory=list)  # every input set's outputs (run_tflite_sets)

    def __iter__(self):
        yield self.outputs
        yield self.timings

    def record(self) -> dict:
        """What a result file keeps of the run (no tensors)."""
        return {"arch": "arm64", "cpu": self.cpu, "qemu_cpu": self.qemu_cpu, "feature_level": self.level,
                "reliable": self.reliable, "note": self.note, "features": self.features, "kernels": self.kernels,
                "delegate_partitions": self.delegate_partitions, "threads": self.threads,
                "timings": self.timings, "versions": self.versions}


def run_tflite(env: ArmEnv, model_path: str | Path, inputs: list[np.ndarray], cpu: str = DEFAULT_CPU,
               threads: int = 1, *, kernels: str = "xnnpack", repeats: int = 1, timeout: float = 900) -> ArmRun:
    """Run `model_path` once per repeat on the emulated `cpu` with `inputs` (in the model's input order).

    kernels: "xnnpack" (LiteRT's default: XNNPACK delegate over the builtin kernels) or "builtin" (no delegate).
    Raises EdgeExportError for an unknown cpu, a missing model, no mount namespace, or a guest crash (the signal
    named)."""
    return run_tflite_sets(env, model_path, [inputs], cpu, threads, kernels=kernels, repeats=repeats,
                           timeout=timeout)


def run_tflite_sets(env: ArmEnv, model_path: str | Path, input_sets: list[list[np.ndarray]],
                    cpu: str = DEFAULT_CPU, threads: int = 1, *, kernels: str = "xnnpack", repeats: int = 1,
                    timeout: float = 900) -> ArmRun:
    """run_tflite for several input sets (e.g. one per validation image) in ONE guest process and one loaded
    Interpreter: a guest start costs about a second under QEMU. ArmRun.set_outputs[s] are set s's outputs."""
    model = get_cpu(cpu, env)
    model_path = Path(model_path).absolute()
    if not model_path.is_file():
        raise EdgeExportError(f"{model_path} does not exist: pass a .tflite file")
    if kernels not in ("xnnpack", "builtin"):
        raise EdgeExportError(f"unknown kernels {kernels!r}: choose xnnpack or builtin")
    if not input_sets:
        raise EdgeExportError("no input sets to run")
    with tempfile.TemporaryDirectory(prefix="edge-export-arm-") as job_dir:
        job = Path(job_dir)
        for s, inputs in enumerate(input_sets):
            for i, x in enumerate(inputs):
                np.save(job / f"in{s}_{i}.npy", np.ascontiguousarray(x))
        job_spec = {"mode": "run", "model": str(model_path), "threads": int(threads), "kernels": kernels,
                    "repeats": max(1, int(repeats)), "sets": len(input_sets)}
        result, log = guest(env, job, job_spec, model, timeout)
        set_outputs = [[np.load(job / f"out{s}_{i}.npy") for i in range(result["n_outputs"])]
                       for s in range(len(input_sets))]
    partitions = int(result["delegate_nodes"])
    if kernels == "xnnpack" and partitions and "XNNPACK" not in log:
        raise EdgeExportError(f"the guest's LiteRT delegated {partitions} partitions but did not report creating "
                              f"XNNPACK: an unknown default delegate, check ai-edge-litert {env.versions}")
    invoke = result["invoke_s"]
    timings = {"label": EMULATED, "load_s": result["load_s"], "invoke_s": invoke,
               "median_s": float(np.median(invoke)), "emulator": emulator(env, model)}
    return ArmRun(outputs=set_outputs[0], timings=timings, cpu=model.name, qemu_cpu=model.qemu_cpu,
                  level=model.level, reliable=model.reliable, features=decode_hwcaps(result["hwcap"], result["hwcap2"]),
                  kernels="xnnpack" if partitions else "builtin", delegate_partitions=partitions,
                  threads=int(threads), versions=dict(env.versions), note=model.note, set_outputs=set_outputs)


def profile_in_guest(env: ArmEnv, request: dict, x: np.ndarray, cpu: str = DEFAULT_CPU, timeout: float = 3600) -> dict:
    """The host LiteRT profiler's child (edge_export.runtimes.litert.profile_child.measure) run in the guest on
    `request` (model, kernel_mode, threads, runs, warmup, cross_check_runs) with program input `x`. Returns
    measure()'s result plus the hwcaps the guest saw. The guest imports edge_export from a folder holding only a link
    to this package, after its own site folder: nothing of the host's Python can be picked up."""
    model = get_cpu(cpu, env)
    with tempfile.TemporaryDirectory(prefix="edge-export-arm-") as job_dir:
        job = Path(job_dir)
        (job / "src").mkdir()
        (job / "src" / "edge_export").symlink_to(Path(__file__).resolve().parents[1], target_is_directory=True)
        np.save(job / "input.npy", np.ascontiguousarray(x))
        request = {**request, "model": str(Path(request["model"]).absolute()), "input": str(job / "input.npy")}
        result, _ = guest(env, job, {"mode": "profile", "source": str(job / "src"), "request": request}, model,
                          timeout)
    return result


def emulator(env: ArmEnv, model: CpuModel) -> str:
    return f"QEMU {env.versions.get('qemu')} -cpu {model.qemu_cpu}"


def guest_self_test(env: ArmEnv, cpu: str = DEFAULT_CPU) -> dict:
    """Versions and hwcaps from the guest Python (numpy and ai_edge_litert imported) through the same launcher
    as a run, so a refused mount namespace shows at setup, not at the first run."""
    with tempfile.TemporaryDirectory(prefix="edge-export-arm-") as job_dir:
        result, _ = guest(env, Path(job_dir), {"mode": "probe", "features": ["fp", "asimd"]}, get_cpu(cpu), 300)
    return result


def probe_cpu(env: ArmEnv, cpu: str) -> list[str]:
    """The hwcaps QEMU's model for `cpu` gives the guest (no runtime imported: a second or so)."""
    with tempfile.TemporaryDirectory(prefix="edge-export-arm-") as job_dir:
        result, _ = guest(env, Path(job_dir), {"mode": "hwcaps", "features": ["fp", "asimd"]}, get_cpu(cpu), 120)
    return decode_hwcaps(result["hwcap"], result["hwcap2"])


def guest(env: ArmEnv, job: Path, spec: dict, model: CpuModel, timeout: float) -> tuple[dict, str]:
    """Run guest.py on `spec` in folder `job`; returns (result.json, the guest's stderr)."""
    (job / "job.json").write_text(json.dumps(spec))
    features = spec.get("features") or _expected_features(env, model)
    (job / "cpuinfo").write_text(cpuinfo_text(model, features, os.cpu_count() or 1))
    cmd = [str(env.qemu), "-cpu", model.qemu_cpu, "-L", str(env.sysroot), str(env.python), "-I", str(GUEST),
           str(env.site), str(job)]
    ns = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-U", "-r", "-m"]
    # the guest sees no host Python/loader variables; QEMU_* would override our flags
    clean = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(job), "TMPDIR": str(job)}
    try:
        proc = subprocess.run([*ns, "sh", "-c", _WRAPPER, str(job / "cpuinfo"), *cmd], cwd=job, env=clean,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              errors="replace", timeout=timeout, preexec_fn=_no_core_dumps)
    except FileNotFoundError:
        raise EdgeExportError("`unshare` not found: install util-linux (`apt-get install util-linux`)") from None
    except subprocess.TimeoutExpired:
        raise EdgeExportError(f"the Arm guest ran longer than {timeout:.0f} s on -cpu {model.qemu_cpu}: "
                              f"use a smaller model or a longer timeout") from None
    _check_exit(proc, model)
    return json.loads((job / "result.json").read_text()), proc.stderr


def _check_exit(proc: subprocess.CompletedProcess, model: CpuModel) -> None:
    err = proc.stderr or ""
    if proc.returncode == _MOUNT_FAILED or (proc.returncode == 1 and err.startswith("unshare:")):
        why = (err.strip().splitlines() or ["refused"])[0][:160]
        raise EdgeExportError(f"cannot bind an arm64 /proc/cpuinfo in a private mount namespace ({why}): run as root, "
                              f"or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)")
    # QEMU re-raises a guest's fatal signal on itself after printing "uncaught target signal N (Name)"
    m = re.search(r"uncaught target signal (\d+) \(([^)]*)\)", err)
    if proc.returncode < 0 or m:
        num = int(m[1]) if m else -proc.returncode
        name = _signal_name(num)
        raise EdgeExportError(f"the Arm guest crashed with {name} ({m[2] if m else 'killed'}) on -cpu {model.qemu_cpu}: "
                              f"this CPU model lacks an instruction the kernels use, or the runtime is broken there")
    if proc.returncode != 0:
        lines = [ln.strip() for ln in err.splitlines() if ln.strip() and not ln.startswith(("INFO:", "WARNING:"))]
        raise EdgeExportError(f"the Arm guest failed (exit {proc.returncode}): {(lines or ['no output'])[-1][:200]}")


def _expected_features(env: ArmEnv, model: CpuModel) -> list[str]:
    """The hwcaps setup recorded for this CPU model (the cpuinfo file's Features line; XNNPACK itself reads
    getauxval, which QEMU answers from the model)."""
    return list((env.cpus.get(model.name) or {}).get("features") or ["fp", "asimd"])


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # QEMU would write a qemu_*.core into the job folder
