"""Provision QNN host libraries from PyPI's onnxruntime-qnn wheel (`edge-export qnn-sdk setup`). EXPERIMENTAL.

There is no QAIRT install to be had here, but the onnxruntime-qnn wheel bundles QAIRT's x86-64 Linux
host libraries (libQnnHtp.so with the HTP simulator, libQnnSystem.so, and the libc++ they link).
`setup_host_sdk` lays them out as a minimal QAIRT root that ExecuTorch's QNN backend accepts:

    dest/lib/x86_64-linux-clang/libQnnHtp.so        the compat shim (htp_compat_shim.c), built here with gcc
    dest/lib/x86_64-linux-clang/libQnnHtp.real.so   the wheel's libQnnHtp.so
    dest/lib/x86_64-linux-clang/libQnnSystem.so
    dest/lib/onnxruntime_qnn.libs/                  libc++ & co. (the libraries' RPATH is $ORIGIN/../onnxruntime_qnn.libs)
    dest/licenses/                                  the wheel's licence files
    dest/edge-export-sdk.json                       version, provenance, file list; written last ("complete")

It checks what it installs: the library's build id must be QAIRT 2.4x/2.5x, and a child process
creates an HTP device through the installed libQnnHtp.so with the SoC config layout ExecuTorch 1.5.1
writes. The shim is installed only when the raw library rejects that layout (error 14001) and the
shim fixes it. Everything is built in a temporary sibling directory and renamed into place, under a
file lock; a second call returns at once. Qualcomm's libraries are licensed by Qualcomm: they stay in
the user's cache and are never part of this project's repository or artifacts.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable

from edge_export.cached_folder import locked, swap_into_place
from edge_export.runtimes.qnn.sdk import (
    ENV_SHIM_REAL,
    HOST_LIB_SUBDIR,
    MANIFEST_NAME,
    REAL_HTP_NAME,
    QnnSdk,
    QnnSdkError,
    QnnWorkerError,
    default_sdk_home,
    read_build_id,
    validate_qnn_sdk,
)

ORT_QNN_PACKAGE = "onnxruntime-qnn"
ORT_QNN_VERSION = "2.7.0"  # bundles QAIRT 2.51 (2.3.0 bundles 2.47)
ACCEPTED_QAIRT_MINORS = range(40, 60)  # the layouts this module (and the shim) were written against
MANIFEST_FORMAT = 1
SHIM_SOURCE = Path(__file__).with_name("htp_compat_shim.c")
ERROR_DEVICE_INVALID_CONFIG = 14001
SELFTEST_SOC_MODEL = 57  # SM8650

# wheel member -> path under dest
_WHEEL_LIBS = {
    "onnxruntime_qnn/libQnnHtp.so": HOST_LIB_SUBDIR / "libQnnHtp.so",
    "onnxruntime_qnn/libQnnSystem.so": HOST_LIB_SUBDIR / "libQnnSystem.so",
}
_WHEEL_LIBCXX_DIR = "onnxruntime_qnn.libs/"
_LIBCXX_DEST = Path("lib") / "onnxruntime_qnn.libs"
_WHEEL_LICENSES = ("onnxruntime_qnn/Qualcomm_LICENSE.pdf", "onnxruntime_qnn/ThirdPartyNotices.txt",
                   "onnxruntime_qnn/LICENSE")

Progress = Callable[[str], None]


def setup_host_sdk(
    dest: str | Path | None = None,
    progress: Progress | None = None,
    *,
    wheel: str | Path | None = None,
    force: bool = False,
) -> QnnSdk:
    """Provision the QNN host SDK into `dest` (default: $EDGE_EXPORT_QNN_HOME or ~/.cache/edge-export/qnn-sdk).

    wheel: use this onnxruntime-qnn wheel file instead of `pip download` (offline installs).
    force: provision again even if `dest` is complete.
    Returns the validated QnnSdk; raises QnnSdkError (one line) on any failure, leaving `dest` as it was.
    """
    say = progress or (lambda msg: None)
    dest = Path(dest).expanduser() if dest is not None else default_sdk_home()
    dest = dest.absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)

    with locked(dest.parent / f".{dest.name}.lock"):
        if not force:
            current = _current(dest)
            if current is not None:
                say(f"QNN SDK already provisioned: {current.describe()}")
                return current
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            manifest = _provision_into(tmp, say, wheel)
            swap_into_place(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    sdk = validate_qnn_sdk(dest, origin=f"the provisioned QNN SDK at {dest}")
    say(f"QNN SDK ready in {manifest['seconds']['total']:.1f} s: {sdk.describe()}")
    return sdk


def _current(dest: Path) -> QnnSdk | None:
    """The provisioned SDK at dest if it is complete and was made by this version of the code."""
    try:
        manifest = json.loads((dest / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("format") != MANIFEST_FORMAT:
        return None
    if manifest.get("uses_compat_shim") and manifest.get("shim_source_sha256") != _sha256(SHIM_SOURCE):
        return None  # the shim source changed: rebuild
    try:
        return validate_qnn_sdk(dest, origin=f"the provisioned QNN SDK at {dest}")
    except QnnSdkError:
        return None


def _provision_into(root: Path, say: Progress, wheel: str | Path | None) -> dict:
    t_start = time.perf_counter()
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edge-export-qnn-wheel-") as download_dir:
        wheel_path = Path(wheel) if wheel else _pip_download(Path(download_dir), say)
        if not wheel_path.is_file():
            raise QnnSdkError(f"onnxruntime-qnn wheel {wheel_path} does not exist: pass an existing .whl file")
        seconds["download"] = time.perf_counter() - t
        t = time.perf_counter()
        say(f"extracting QAIRT host libraries from {wheel_path.name}")
        files, wheel_sha = _extract(wheel_path, root)
        seconds["extract"] = time.perf_counter() - t

    lib_dir = root / HOST_LIB_SUBDIR
    htp = lib_dir / "libQnnHtp.so"
    build = _known_build(htp, wheel_path.name)
    say(f"QAIRT {build}: checking the HTP device config layout in a child process")

    t = time.perf_counter()
    raw = _self_test(htp, "the bundled libQnnHtp.so")
    seconds["self_test_raw"] = time.perf_counter() - t
    uses_shim = False
    shim_test = None
    compiler = None
    if raw.get("device_create_rc") == 0:
        say("the bundled library accepts ExecuTorch's device config layout: no shim needed")
    elif raw.get("device_create_rc") == ERROR_DEVICE_INVALID_CONFIG:
        say("the bundled library reads the newer device config layout: building the compat shim with gcc")
        shim_test, compiler = _install_shim(htp, build, seconds)
        uses_shim = True
        files = [str(HOST_LIB_SUBDIR / REAL_HTP_NAME) if f == str(HOST_LIB_SUBDIR / "libQnnHtp.so") else f
                 for f in files] + [str(HOST_LIB_SUBDIR / "libQnnHtp.so")]
    else:
        raise QnnSdkError(
            f"QAIRT {build}: creating an HTP device failed with {raw}, an unknown layout: "
            f"use a QAIRT install via QNN_SDK_ROOT instead"
        )

    seconds["total"] = time.perf_counter() - t_start
    manifest = {
        "format": MANIFEST_FORMAT,
        "complete": True,
        "qairt_version": build,
        "provisioned_from": f"{ORT_QNN_PACKAGE} {_wheel_version(wheel_path)}",
        "wheel": wheel_path.name,
        "wheel_version": _wheel_version(wheel_path),
        "wheel_sha256": wheel_sha,
        "core_api_version": raw.get("core_api"),
        "backend_api_version": raw.get("backend_api"),
        "uses_compat_shim": uses_shim,
        "shim_source_sha256": _sha256(SHIM_SOURCE) if uses_shim else None,
        "compiler": compiler,
        "self_test": {"raw": raw, "shim": shim_test},
        "files": sorted(files),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "licence_note": "Qualcomm libraries under Qualcomm's licence (see licenses/); do not redistribute",
    }
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _known_build(htp: Path, wheel_name: str) -> str:
    """The QAIRT build id of the extracted libQnnHtp.so, if it is one this setup knows."""
    build = read_build_id(htp)
    if build is None:
        raise QnnSdkError(
            f"{wheel_name}: libQnnHtp.so has no QAIRT build id, an unknown layout: "
            f"use a QAIRT install via QNN_SDK_ROOT instead"
        )
    major, minor = (int(x) for x in build.split(".")[:2])
    if major != 2 or minor not in ACCEPTED_QAIRT_MINORS:
        raise QnnSdkError(
            f"{wheel_name} bundles QAIRT {build}, not the 2.4x/2.5x libraries this setup knows: "
            f"use a QAIRT install via QNN_SDK_ROOT instead"
        )
    return build


def _install_shim(htp: Path, build: str, seconds: dict[str, float]) -> tuple[dict, str]:
    """Put the compat shim in libQnnHtp.so's place (the real library beside it) and prove it creates a
    device; returns (the shim's self-test, the compiler that built it)."""
    real = htp.parent / REAL_HTP_NAME
    htp.rename(real)
    t = time.perf_counter()
    compiler = build_shim(htp)
    seconds["shim_build"] = time.perf_counter() - t
    t = time.perf_counter()
    shim_test = _self_test(htp, "the compat shim", {ENV_SHIM_REAL: str(real)})
    seconds["self_test_shim"] = time.perf_counter() - t
    if shim_test.get("device_create_rc") != 0:
        raise QnnSdkError(
            f"QAIRT {build}: the compat shim did not fix device creation "
            f"(error {shim_test.get('device_create_rc')}), an unknown layout: use QAIRT 2.37 via QNN_SDK_ROOT"
        )
    return shim_test, compiler


def _self_test(lib: Path, what: str, extra_env: dict[str, str] | None = None) -> dict:
    from edge_export.runtimes.qnn.lowering import self_test_library

    env = {k: v for k, v in os.environ.items() if k != ENV_SHIM_REAL}
    env.update(extra_env or {})
    try:
        result = self_test_library(lib, env, SELFTEST_SOC_MODEL)
    except QnnWorkerError as exc:
        tail = exc.log.strip().splitlines()[-1:] if exc.log else []
        raise QnnSdkError(
            f"{what} cannot be loaded on this machine ({exc}{': ' + tail[0] if tail else ''}): "
            f"use a QAIRT install via QNN_SDK_ROOT instead"
        ) from None
    if result.get("get_providers_rc") != 0 or not result.get("providers"):
        raise QnnSdkError(f"{what} offers no QNN interface ({result}): use a QAIRT install via QNN_SDK_ROOT instead")
    if not str(result.get("build_id", "")).startswith("v2."):
        raise QnnSdkError(f"{what} has build id {result.get('build_id')!r}, not v2.x: an unknown layout")
    return result


def _pip_download(into: Path, say: Progress) -> Path:
    spec = f"{ORT_QNN_PACKAGE}=={ORT_QNN_VERSION}"
    say(f"downloading {spec} (~100 MB, pip's cache is reused)")
    # The platform tags pin the Linux x86-64 build whatever this interpreter is; only its .so files are used.
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--platform", "manylinux_2_35_x86_64", "--python-version", "3.11", "--implementation", "cp",
        "--disable-pip-version-check", "-d", str(into), spec,
    ]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace")
    wheels = sorted(into.glob("onnxruntime_qnn-*.whl"))
    if proc.returncode != 0 or not wheels:
        last = [ln for ln in proc.stdout.splitlines() if ln.strip()][-1:] or ["no output"]
        raise QnnSdkError(
            f"`pip download {spec}` failed ({last[0].strip()[:200]}): check network access to PyPI, "
            f"or pass a downloaded wheel with --wheel"
        )
    return wheels[0]


def _extract(wheel_path: Path, root: Path) -> tuple[list[str], str]:
    try:
        zf = zipfile.ZipFile(wheel_path)
    except zipfile.BadZipFile:
        raise QnnSdkError(f"{wheel_path} is not a wheel (zip) file: download it again") from None
    files: list[str] = []
    with zf:
        names = set(zf.namelist())
        missing = [m for m in _WHEEL_LIBS if m not in names]
        libcxx = sorted(n for n in names if n.startswith(_WHEEL_LIBCXX_DIR) and not n.endswith("/"))
        if missing or not libcxx:
            what = ", ".join(missing) if missing else _WHEEL_LIBCXX_DIR
            raise QnnSdkError(
                f"{wheel_path.name} lacks {what}: an unknown wheel layout, use a QAIRT install via QNN_SDK_ROOT"
            )
        targets = dict(_WHEEL_LIBS)
        for n in libcxx:
            targets[n] = _LIBCXX_DEST / Path(n).name
        for n in _WHEEL_LICENSES:
            if n in names:
                targets[n] = Path("licenses") / Path(n).name
        for member, rel in targets.items():
            out = root / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if out.suffix == ".so" or ".so." in out.name:
                out.chmod(0o755)
            files.append(str(rel))
    return files, _sha256(wheel_path)


def find_c_compiler() -> str:
    for cand in (os.environ.get("CC", ""), "gcc", "cc", "clang"):
        if cand and shutil.which(cand):
            return shutil.which(cand)  # type: ignore[return-value]
    raise QnnSdkError(
        "no C compiler found to build the QNN compat shim: install gcc (e.g. `apt-get install gcc`) "
        "and run `edge-export qnn-sdk setup` again"
    )


def build_shim(out: Path, source: Path = SHIM_SOURCE) -> str:
    """Compile htp_compat_shim.c into `out` (named libQnnHtp.so). Returns the compiler's version line."""
    cc = find_c_compiler()
    if not source.is_file():
        raise QnnSdkError(f"the compat shim source {source} is missing from the installed package: reinstall edge-export")
    cmd = [cc, "-O2", "-Wall", "-shared", "-fPIC", "-fvisibility=hidden", "-Wl,-z,nodelete",
           "-Wl,-soname,libQnnHtp.so", "-o", str(out), str(source), "-ldl", "-lpthread"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace")
    if proc.returncode != 0 or not out.is_file():
        first = next((ln for ln in proc.stdout.splitlines() if "error" in ln), proc.stdout.strip()[:200])
        raise QnnSdkError(f"building the QNN compat shim with {cc} failed: {first.strip()[:300]}")
    version = subprocess.run([cc, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return (version.stdout.splitlines() or [cc])[0]


def _wheel_version(wheel_path: Path) -> str:
    parts = wheel_path.name.split("-")
    return parts[1] if len(parts) > 2 else "unknown"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
