"""What this machine can do: package versions, the CPU's instruction sets, whether each registered target can be
exported and run here (and the fix when not), and the tools the test suite needs.

Every fact comes from a real check: the target's own `check_available`, an import or a registry lookup in the
runtime it runs in, a binary on PATH. The CLI (`edge-export doctor`) only renders `collect()`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from edge_export.errors import first_line
from edge_export.export_pool import usable_cores
from edge_export.profile.host_info import host_device
from edge_export.versions import RECORDED_PACKAGES, package_version

# What `make run` exports: the Makefile's TARGETS, the TF route and run-qnn (tests/test_doctor.py reads the Makefile).
DEFAULT_TARGETS = ("xnnpack-fp32", "xnnpack-int8", "tflite-fp32", "tflite-int8", "tflite-dynamic-int8",
                   "tf-tflite-fp32", "qnn-fp16")

# The manifests' packages, plus what only some targets need (int8 TFLite, the TF route) and the dashboard.
PACKAGES = RECORDED_PACKAGES + ("ai-edge-quantizer", "tensorflow", "tf-keras", "plotly")

SETUP_FIX = "`make setup` (or pip install -e .)"

# (/proc/cpuinfo flag, name, why it matters for the numbers measured here). The flags are the ones
# host_info records in every profile, so a profile and the doctor describe the CPU alike.
ISA = (
    ("avx2", "AVX2", "XNNPACK picks its micro-kernels per ISA at run time; without AVX2 it falls back to SSE/AVX ones"),
    ("fma", "FMA3", "fused multiply-add: XNNPACK's AVX2-level fp32 GEMM kernels need it"),
    ("avx512f", "AVX-512F", "16-wide fp32 kernels where the runtime's XNNPACK build has them"),
    ("avx512_vnni", "AVX-512 VNNI", "int8 dot products in one instruction: int8 speed relative to fp32 depends on VNNI"),
    ("avx_vnni", "AVX-VNNI", "the same int8 dot products on 256-bit registers, for CPUs without AVX-512"),
    ("amx_tile", "AMX", "int8/bf16 tile units: oneDNN (PyTorch eager) uses them; XNNPACK only where its build has AMX kernels"),
)


@dataclass
class IsaFlag:
    flag: str
    name: str
    present: bool
    why: str


@dataclass
class Cpu:
    model: str
    machine: str
    logical_cpus: int
    usable_cpus: int  # this process's affinity: what `--jobs` and `--threads` can really use
    isa: list[IsaFlag]


@dataclass
class TargetCheck:
    name: str
    runtime: str
    required: bool  # the exit code asks for it (by default: `make run` exports it)
    experimental: bool
    can_export: bool
    export_reason: str | None  # one line naming the fix, when can_export is false
    can_run: bool
    run_reason: str | None


@dataclass
class ToolCheck:
    name: str
    needed_for: str
    ok: bool
    path: str | None = None
    version: str | None = None
    reason: str | None = None


@dataclass
class Facts:
    python: str
    versions: dict[str, str | None]
    cpu: Cpu
    targets: list[TargetCheck]
    tools: list[ToolCheck]
    required: list[str] = field(default_factory=list)  # the targets `ok` asks for

    @property
    def missing(self) -> list[str]:
        """One line per required target this machine cannot export or run."""
        by_name = {t.name: t for t in self.targets}
        out = []
        for name in self.required:
            t = by_name.get(name)
            if t is None:
                out.append(f"no target {name!r} is registered: see `edge-export targets`")
                continue
            if not t.can_export:
                out.append(f"{name} cannot export: {t.export_reason}")
            if not t.can_run and t.run_reason != t.export_reason:  # one SDK missing is one line, not two
                out.append(f"{name} cannot run: {t.run_reason}")
        return out

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_json(self) -> dict:
        return {**asdict(self), "ok": self.ok, "missing": self.missing}


def collect(required: tuple[str, ...] | list[str] = DEFAULT_TARGETS) -> Facts:
    """Every fact, checked now. `required`: the targets `Facts.ok` asks for (an unknown name is reported missing)."""
    return Facts(
        python=platform.python_version(),
        versions={name: package_version(name) for name in PACKAGES},
        cpu=cpu_facts(),
        targets=check_targets(required),
        tools=[chromium(), jdk(), junit(), c_compiler()],
        required=list(required),
    )


def cpu_facts() -> Cpu:
    host = host_device()
    have = set(host["cpu_flags"].split())
    return Cpu(
        model=host["cpu_model"],
        machine=host["machine"],
        logical_cpus=int(host["logical_cpus"]) if host["logical_cpus"].isdigit() else 0,
        usable_cpus=usable_cores(),
        isa=[IsaFlag(flag, name, flag in have, why) for flag, name, why in ISA],
    )


# --- targets -----------------------------------------------------------------------------------------------

# Libraries a runtime's targets import only inside export() (so the registry loads without them): a broken
# install shows here instead of minutes into an export. Keyed by runtime, as the targets group by it.
EXPORT_MODULES = {
    "executorch": ("executorch.exir", "executorch.backends.xnnpack", "torchao"),
    "litert": ("litert_torch", "ai_edge_quantizer", "ai_edge_litert"),
    "executorch-qnn": ("executorch.backends.qualcomm",),
}


def _executorch_backend(backend: str) -> None:
    """The backend is compiled into ExecuTorch's Python runtime (what every .pte of it runs in here)."""
    try:
        # The extension executorch.runtime wraps, asked directly: its Python wrapper first imports all of
        # executorch.exir (~3 s), which would double the doctor's time for the same answer.
        import torch  # noqa: F401  (the extension links against libtorch's symbols)
        from executorch.extension.pybindings._C import _get_registered_backend_names as names
    except ImportError:  # a release that moved it: the public route
        from executorch.runtime import Runtime

        def names():
            return Runtime.get().backend_registry.registered_backend_names

    have = list(names())
    if backend not in have:
        raise RuntimeError(f"ExecuTorch's runtime here has no {backend} (it has {', '.join(have) or 'none'}): "
                           f"install the pinned executorch wheel, {SETUP_FIX}")


def _run_executorch() -> None:
    from edge_export.runtimes.executorch import XNNPACK_BACKEND

    _executorch_backend(XNNPACK_BACKEND)


def _run_litert() -> None:
    from ai_edge_litert.interpreter import Interpreter  # noqa: F401  (validate/profile run .tflite in it)


def _run_qnn() -> None:
    from edge_export.runtimes.qnn import find_qnn_sdk
    from edge_export.targets.qnn import QNN_BACKEND

    find_qnn_sdk()  # what QnnRunner falls back to when the manifest names no SDK; raises with the fix
    _executorch_backend(QNN_BACKEND)


# What running an artifact of each runtime needs beyond its runner class (the runners import their library lazily).
RUN_PROBES: dict[str, Callable[[], None]] = {
    "executorch": _run_executorch,
    "litert": _run_litert,
    "executorch-qnn": _run_qnn,
}


def _reason(check: Callable[[], None]) -> str | None:
    """None when the check passes, else its one-line message (ours already name the fix)."""
    try:
        check()
    except ImportError as exc:
        return f"{exc.name or 'a module'} does not import ({first_line(exc)}): {SETUP_FIX}"
    except Exception as exc:  # a library's own failure: quote it, it is what the user will search for
        return first_line(exc, 300)
    return None


def _modules_found(names: tuple[str, ...]) -> None:
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:  # a parent package is missing
            found = False
        if not found:
            raise RuntimeError(f"{name} is not installed: {SETUP_FIX}")


def _runner_loads(runtime_name: str) -> None:
    from edge_export.runtimes import get_runtime

    module, _, cls = get_runtime(runtime_name).runner.partition(":")
    getattr(importlib.import_module(module), cls)


def check_targets(required=DEFAULT_TARGETS) -> list[TargetCheck]:
    """Every registered target: can it be exported here (its own check_available with default options, and the
    libraries its export imports), and can its artifacts be run here (its runtime's runner and library)."""
    from edge_export.targets import list_targets

    run_reasons: dict[str, str | None] = {}  # one probe per runtime: importing a runtime twice proves nothing more
    out = []
    for t in list_targets():
        export_reason = _reason(lambda: _modules_found(EXPORT_MODULES.get(t.runtime, ()))) or \
            _reason(lambda: t.check_available(t.options()))
        if t.runtime not in run_reasons:
            probe = RUN_PROBES.get(t.runtime, lambda: None)
            run_reasons[t.runtime] = _reason(lambda: _runner_loads(t.runtime)) or _reason(probe)
        run_reason = run_reasons[t.runtime]
        out.append(TargetCheck(t.name, t.runtime, t.name in required, t.experimental, export_reason is None,
                               export_reason, run_reason is None, run_reason))
    return out


# --- tools for `make test` ---------------------------------------------------------------------------------

SYSTEM_FIX = "run .ci/system-packages.sh as root"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")  # the order tests/browser.py looks them up in
JUNIT_DEFAULT = Path("/usr/share/java/junit-platform-console-standalone.jar")  # android_app/run-core-tests.sh
MIN_JDK = 11  # run-core-tests.sh: javac --release 8 from a JDK 11+


def _version_line(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (proc.stdout + proc.stderr).strip().splitlines()  # javac 8 prints to stderr
    return lines[0].strip() if lines else None


def chromium() -> ToolCheck:
    need = "dashboard browser test"
    exe = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    if exe is None:
        return ToolCheck("chromium", need, False, reason=f"not on PATH: apt-get install -y chromium, or {SYSTEM_FIX}")
    return ToolCheck("chromium", need, True, exe, _version_line([exe, "--version"]))


def jdk() -> ToolCheck:
    need = "Android core tests (android_app/run-core-tests.sh)"
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None:
        missing = " and ".join(n for n, p in (("javac", javac), ("java", java)) if p is None)
        return ToolCheck("jdk", need, False, javac or java,
                         reason=f"{missing} not on PATH: apt-get install -y openjdk-17-jdk-headless, or {SYSTEM_FIX}")
    version = _version_line([javac, "-version"])
    m = re.search(r"javac (\d+)(?:\.(\d+))?", version or "")
    major = (int(m.group(2)) if m.group(1) == "1" else int(m.group(1))) if m else None  # "javac 1.8.0" is Java 8
    if major is None or major < MIN_JDK:
        return ToolCheck("jdk", need, False, javac, version,
                         reason=f"{version or 'javac -version says nothing'}: the core tests need JDK {MIN_JDK}+ "
                                "(apt-get install -y openjdk-17-jdk-headless)")
    return ToolCheck("jdk", need, True, javac, version)


def junit() -> ToolCheck:
    need = "Android core tests (JUnit 5 console)"
    jar = Path(os.environ.get("JUNIT_CONSOLE") or JUNIT_DEFAULT)
    if not jar.is_file():
        return ToolCheck("junit5", need, False, str(jar),
                         reason=f"{jar} not found: apt-get install -y junit5 (or set JUNIT_CONSOLE), or {SYSTEM_FIX}")
    return ToolCheck("junit5", need, True, str(jar))


def c_compiler() -> ToolCheck:
    from edge_export.runtimes.qnn.provision import find_c_compiler

    need = "`qnn-sdk setup` (builds the QNN compat library)"
    try:
        cc = find_c_compiler()
    except Exception as exc:
        return ToolCheck("c compiler", need, False, reason=first_line(exc, 300))
    return ToolCheck("c compiler", need, True, cc, _version_line([cc, "--version"]))
