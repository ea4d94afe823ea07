"""Find and check a Qualcomm QNN (QAIRT) SDK for ExecuTorch's QNN backend on this x86-64 Linux host.

Pure Python: nothing here imports ExecuTorch or loads a QNN library, so every check is safe to run in
any process. A wrong SDK is reported as a one-line `QnnSdkError` *before* anything native touches it,
because ExecuTorch aborts the whole process (C++ assert, exit 134) when QNN_SDK_ROOT points at a
broken tree. Work that does load QNN runs in a child process: see `run_in_qnn_env`.

Where the SDK comes from, in order: an explicit path, $QNN_SDK_ROOT, then the directory that
`edge-export qnn-sdk setup` provisions ($EDGE_EXPORT_QNN_HOME, default ~/.cache/edge-export/qnn-sdk).
"""

from __future__ import annotations

import json
import mmap
import os
import re
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

from edge_export.child import ChildFailed, child_env, run_process
from edge_export.errors import EdgeExportError

HOST_LIB_SUBDIR = Path("lib") / "x86_64-linux-clang"
REQUIRED_LIBS = ("libQnnHtp.so", "libQnnSystem.so")
REAL_HTP_NAME = "libQnnHtp.real.so"  # the real backend when libQnnHtp.so is the compat shim
MANIFEST_NAME = "edge-export-sdk.json"  # written by provisioning (edge_export.runtimes.qnn.provision)
SHIM_MARKER = b"EdgeExportQnnShim_isShim"  # exported by htp_compat_shim.c

ENV_SDK_ROOT = "QNN_SDK_ROOT"
ENV_HOME = "EDGE_EXPORT_QNN_HOME"  # where `qnn-sdk setup` provisions (overrides the default below)
ENV_SHIM_REAL = "EDGE_EXPORT_QNN_HTP_REAL"  # read by the shim: path of the real libQnnHtp.so

SETUP_HINT = "run `edge-export qnn-sdk setup`"
_BUILD_ID_RE = re.compile(rb"v(2\.\d{1,3}\.\d{1,3}\.\d{6,})")
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(\.\d+)?$")
# ExecuTorch 1.5.1 is built against QNN 2.37 headers. QAIRT releases from about 2.44 on read the HTP
# device custom config with a different layout (see htp_compat_shim.c): without the shim, lowering
# fails at device creation ("unknown custom config socModel 0", error 14001).
SHIM_NEEDED_FROM_MINOR = 44


class QnnSdkError(EdgeExportError, ValueError):
    """No usable QNN SDK. The message is one line: the problem and the fix."""


class QnnWorkerError(ChildFailed):
    """A child process that loads QNN failed or crashed. The message is one line; `log` has the rest."""


@dataclass(frozen=True)
class QnnSdk:
    root: Path
    lib_dir: Path
    qairt_version: str  # e.g. "2.51.0.260929181845"
    provisioned_from: str  # "onnxruntime-qnn 2.7.0" or "user QAIRT install"
    uses_compat_shim: bool
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def real_htp_library(self) -> Path:
        """The library that implements HTP: the shim's target when the shim is installed."""
        return self.lib_dir / (REAL_HTP_NAME if self.uses_compat_shim else "libQnnHtp.so")

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.qairt_version.split(".")[:3])

    def describe(self) -> str:
        shim = ", HTP device-config compat shim" if self.uses_compat_shim else ""
        return f"QAIRT {self.qairt_version} at {self.root} ({self.provisioned_from}{shim})"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        return qnn_subprocess_env(self, base)


def default_sdk_home(environ: Mapping[str, str] | None = None) -> Path:
    """Where `edge-export qnn-sdk setup` puts the SDK: $EDGE_EXPORT_QNN_HOME or ~/.cache/edge-export/qnn-sdk."""
    environ = os.environ if environ is None else environ
    home = environ.get(ENV_HOME, "")
    if home.strip():
        return Path(home).expanduser()
    return Path.home() / ".cache" / "edge-export" / "qnn-sdk"


def find_qnn_sdk(explicit: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> QnnSdk:
    """Locate and validate the SDK: `explicit` > $QNN_SDK_ROOT > the provisioned default. Raises QnnSdkError."""
    environ = os.environ if environ is None else environ
    if explicit is not None and str(explicit).strip():
        return validate_qnn_sdk(Path(explicit).expanduser(), origin=f"QNN SDK path {explicit}")

    note = ""
    env_root = environ.get(ENV_SDK_ROOT)
    if env_root is not None and env_root.strip():
        return validate_qnn_sdk(Path(env_root).expanduser(), origin=f"{ENV_SDK_ROOT}={env_root}")
    if env_root is not None:
        note = f" ({ENV_SDK_ROOT} is set but empty, so it was ignored)"

    home = default_sdk_home(environ)
    if (home / MANIFEST_NAME).is_file() or (home / HOST_LIB_SUBDIR).is_dir():
        sdk = validate_qnn_sdk(home, origin=f"the provisioned QNN SDK at {home}")
        if note:
            sdk = replace(sdk, warnings=(f"{ENV_SDK_ROOT} is set but empty, so it was ignored",) + sdk.warnings)
        return sdk
    raise QnnSdkError(
        f"QNN SDK not found{note}: set {ENV_SDK_ROOT} to a QAIRT install or {SETUP_HINT} (provisions {home})"
    )


def validate_qnn_sdk(root: Path, *, origin: str | None = None) -> QnnSdk:
    """Check the layout of an SDK root and read its version, without loading anything. Raises QnnSdkError."""
    origin = origin or f"QNN SDK path {root}"
    fix = f"point it at the QAIRT root (the directory holding {HOST_LIB_SUBDIR}) or {SETUP_HINT}"
    if not root.exists():
        raise QnnSdkError(f"{origin} does not exist: {fix}")
    if not root.is_dir():
        raise QnnSdkError(f"{origin} is not a directory: {fix}")
    root = root.resolve()
    lib_dir = root / HOST_LIB_SUBDIR
    if not lib_dir.is_dir():
        raise QnnSdkError(f"{origin} has no {HOST_LIB_SUBDIR}/ (x86-64 Linux host libraries): {fix}")
    for name in REQUIRED_LIBS:
        if not (lib_dir / name).is_file():
            raise QnnSdkError(f"{origin} has no {HOST_LIB_SUBDIR / name}: {fix}")

    manifest = _read_manifest(root, origin)
    uses_shim = _is_shim(lib_dir / "libQnnHtp.so")
    if uses_shim and not (lib_dir / REAL_HTP_NAME).is_file():
        raise QnnSdkError(
            f"{origin} has the compat shim as libQnnHtp.so but no {REAL_HTP_NAME} beside it: {SETUP_HINT} again"
        )
    real = lib_dir / (REAL_HTP_NAME if uses_shim else "libQnnHtp.so")
    if real.stat().st_size < 1_000_000:
        raise QnnSdkError(f"{origin}: {real.name} is {real.stat().st_size} bytes, not a QNN HTP backend: {fix}")

    if manifest is not None:
        for rel in manifest.get("files", []):
            if not (root / rel).exists():
                raise QnnSdkError(f"{origin} is incomplete ({rel} is missing): {SETUP_HINT} again")
        version = str(manifest.get("qairt_version", ""))
        provisioned_from = str(manifest.get("provisioned_from", "edge-export provisioning"))
    else:
        version = _version_from_tree(root) or _version_from_library(real) or ""
        provisioned_from = "user QAIRT install"
    if not _VERSION_RE.match(version):
        raise QnnSdkError(
            f"{origin}: cannot tell its QAIRT version (no include/QNN/QnnSdkBuildId.h, sdk.yaml or build id "
            f"in {real.name}): {fix}"
        )

    warnings: list[str] = []
    major, minor = (int(p) for p in version.split(".")[:2])
    if major != 2:
        raise QnnSdkError(f"{origin} is QAIRT {version}; ExecuTorch's QNN backend needs QNN 2.x: {fix}")
    if minor >= SHIM_NEEDED_FROM_MINOR and not uses_shim:
        warnings.append(
            f"QAIRT {version} reads HTP device configs in a newer layout than ExecuTorch 1.5.1 (built against "
            f"QNN 2.37) writes; if lowering fails with error 14001, use QAIRT 2.37 or {SETUP_HINT}"
        )
    if uses_shim:
        warnings.append("the HTP device-config compat shim is experimental (host simulator only)")
    return QnnSdk(
        root=root,
        lib_dir=lib_dir,
        qairt_version=version,
        provisioned_from=provisioned_from,
        uses_compat_shim=uses_shim,
        warnings=tuple(warnings),
    )


def _read_manifest(root: Path, origin: str) -> dict | None:
    path = root / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise QnnSdkError(f"{origin}: {MANIFEST_NAME} is unreadable ({exc}): {SETUP_HINT} again") from None
    if not isinstance(data, dict) or not data.get("complete"):
        raise QnnSdkError(f"{origin} is an unfinished provisioning: {SETUP_HINT} again")
    return data


def _is_shim(path: Path) -> bool:
    try:
        if path.stat().st_size > 1_000_000:  # the shim is ~20 KB; the real backend is ~100 MB
            return False
        return SHIM_MARKER in path.read_bytes()
    except OSError:
        return False


def _version_from_tree(root: Path) -> str | None:
    """QAIRT's own version files: include/QNN/QnnSdkBuildId.h, sdk.yaml, or a versioned root directory."""
    header = root / "include" / "QNN" / "QnnSdkBuildId.h"
    if header.is_file():
        m = re.search(r'QNN_SDK_BUILD_ID\s+"v?(\d+\.\d+\.\d+\.\d+)', header.read_text(errors="replace"))
        if m:
            return m.group(1)
    sdk_yaml = root / "sdk.yaml"
    if sdk_yaml.is_file():
        m = re.search(r"^\s*version:\s*['\"]?v?(\d+\.\d+\.\d+(?:\.\d+)?)", sdk_yaml.read_text(errors="replace"), re.M)
        if m:
            return m.group(1)
    if _VERSION_RE.match(root.name) and root.name.count(".") == 3:
        return root.name
    return None


def _version_from_library(path: Path) -> str | None:
    """The build id ("v2.51.0.260929181845") embedded in the HTP backend library."""
    return read_build_id(path)


def read_build_id(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            m = _BUILD_ID_RE.search(mm)
            return m.group(1).decode() if m else None
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------
# Child processes that load QNN
# ---------------------------------------------------------------------------------------------------


def qnn_subprocess_env(sdk: QnnSdk, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a process that lowers to or runs QNN with `sdk`.

    QNN_SDK_ROOT (ExecuTorch reads the SDK version through it and never tries to download one),
    LD_LIBRARY_PATH with the host lib dir first (ExecuTorch dlopens "libQnnHtp.so" by name, and the
    loader reads LD_LIBRARY_PATH only at process start, hence the child process), and for the shim the
    path of the real library.
    """
    env = dict(os.environ if base is None else base)
    env[ENV_SDK_ROOT] = str(sdk.root)
    old = env.get("LD_LIBRARY_PATH", "")
    parts = [str(sdk.lib_dir)] + [p for p in old.split(os.pathsep) if p and p != str(sdk.lib_dir)]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(parts)
    if sdk.uses_compat_shim:
        env[ENV_SHIM_REAL] = str(sdk.lib_dir / REAL_HTP_NAME)
    else:
        env.pop(ENV_SHIM_REAL, None)
    return child_env(env)


def run_in_qnn_env(
    argv: Sequence[str],
    sdk: QnnSdk,
    cwd: str | Path,
    *,
    timeout: float | None = None,
    what: str = "QNN worker",
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv in a child process set up for `sdk`, with cwd `cwd` (QNN lowering writes files there).

    Returns the CompletedProcess (stdout and stderr merged into .stdout) when the child exits 0.
    Raises QnnWorkerError with a one-line message on a non-zero exit, a signal (a QNN abort kills
    only the child) or a timeout.
    """
    env = qnn_subprocess_env(sdk)
    if extra_env:
        env.update(extra_env)
    return run_process(argv, what=what, cwd=cwd, env=env, timeout=timeout, failed=QnnWorkerError,
                       detail=f" with {sdk.describe()}", ignore=("unexpected GraphHtpSettings option",))
