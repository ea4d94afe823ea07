"""Provision the cached aarch64 runtime (`edge-export arm setup`): QEMU user-mode, an arm64 Python sysroot and
the aarch64 wheels of ai-edge-litert and numpy, in one folder:

    root/bin/qemu-aarch64          Debian trixie's qemu-user (QEMU 10.0.x), only this static-pie binary (absent when
                                   a QEMU >= 9.0 is on PATH)
    root/sysroot/                  Debian bookworm's arm64 python3.11 and its libraries, `dpkg-deb -x`'d (no chroot)
    root/site/                     PyPI's cp311 aarch64 wheels (+ pure-Python flatbuffers), unzipped (the guest's only sys.path addition)
    root/edge-export-arm.json      the stamp: versions, provenance, the hwcaps of each --cpu and the SMOPA check's
                                   verdict (sme.py), written last

QEMU's version matters for correctness: bookworm's 7.2 computes SME's int8 outer product (SMOPA) wrong (QEMU issue
#2083, fixed in 9.0), so the `max` level's int8 kernels give garbage there. The emulator is trixie's QEMU 10.0.x
(pinned series, exact version resolved from the archive); one on PATH is used only from 9.0 on. Either way the
self-test runs one SMOPA and records whether it was exact: the `max` level is reliable only when it was.

root is $EDGE_EXPORT_ARM_HOME or ~/.cache/edge-export/arm64. Everything is built in a temporary sibling folder and
renamed into place under a file lock, so a killed setup never leaves a folder that looks complete; a second call
with the same host ai-edge-litert/numpy returns at once. No root is needed: apt runs on a private state folder
(debian.py) and the guest's mount namespace can be a user namespace (run.py).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Callable

from edge_export.cached_folder import locked, swap_into_place
from edge_export.errors import EdgeExportError

ENV_HOME = "EDGE_EXPORT_ARM_HOME"
STAMP = "edge-export-arm.json"
FORMAT = 2  # bump when the layout or the guest runner's needs change: old folders are rebuilt (2: QEMU 10, SMOPA check)
QEMU = "qemu-aarch64"  # the binary kept from QEMU_PACKAGE (static-pie: runs on bookworm)
QEMU_SUITE = "trixie"  # Debian 13: fetched from a private sources file, never mixed with the sysroot's bookworm
QEMU_PACKAGE = "qemu-user"  # trixie's qemu-user-static is a transitional package; the static binaries are here
QEMU_SERIES = "10.0"  # pinned: 10.0's `max` is SME1 (as 7.2's), QEMU 11's adds SME2; exact version from the archive
QEMU_MIN = (9, 0)  # SMOPA fixed (QEMU issue #2083): older QEMUs on PATH are not used
QEMU_ON_PATH = ("qemu-aarch64-static", "qemu-aarch64")
PYTHON = "usr/bin/python3.11"
# PyPI's aarch64 wheels: ai-edge-litert 2.3 is tagged manylinux_2_27, numpy 2.4 manylinux_2_27/2_28; bookworm's
# glibc is 2.36, so any tag up to 2_36 runs in the sysroot.
WHEEL_PLATFORMS = ("manylinux_2_36_aarch64", "manylinux_2_28_aarch64", "manylinux_2_27_aarch64",
                   "manylinux_2_17_aarch64", "manylinux2014_aarch64")
NOT_SET_UP = "Arm runtime not set up: run `edge-export arm setup`"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ArmEnv:
    """A complete aarch64 runtime folder (see the module doc)."""

    root: Path
    qemu: Path
    versions: dict[str, str] = field(default_factory=dict)  # qemu, python, ai-edge-litert, numpy
    cpus: dict[str, dict] = field(default_factory=dict)  # --cpu -> {"qemu_cpu", "level", "features"} from setup
    sme_check: dict = field(default_factory=dict)  # setup's SMOPA check under `qemu` (sme.smopa_check)

    @property
    def sysroot(self) -> Path:
        return self.root / "sysroot"

    @property
    def python(self) -> Path:
        return self.sysroot / PYTHON

    @property
    def site(self) -> Path:
        return self.root / "site"

    def describe(self) -> str:
        v = self.versions
        sme = self.sme_check
        smopa = ("exact" if sme.get("passed") else "not checked" if not sme else
                 f"failed ({sme.get('wrong')}/{sme.get('of')} wrong)" if "error" not in sme else "did not run")
        return (f"aarch64 runtime at {self.root}: QEMU {v.get('qemu')}, Python {v.get('python')}, "
                f"ai-edge-litert {v.get('ai-edge-litert')}, numpy {v.get('numpy')}; SME SMOPA check: {smopa}")


def default_home(environ=None) -> Path:
    """$EDGE_EXPORT_ARM_HOME or ~/.cache/edge-export/arm64."""
    home = (os.environ if environ is None else environ).get(ENV_HOME, "").strip()
    return Path(home).expanduser() if home else Path.home() / ".cache" / "edge-export" / "arm64"


def host_versions() -> dict[str, str]:
    """The host's ai-edge-litert and numpy: the guest gets the same ai-edge-litert (parity compares one runtime
    version on two ISAs, not two versions) and, when PyPI has it for aarch64, the same numpy."""
    out = {}
    for dist in ("ai-edge-litert", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            raise EdgeExportError(f"{dist} is not installed in this Python: install edge-export's dependencies "
                                  f"(`pip install -e .`) before `edge-export arm setup`") from None
    return out


def load_env(root: str | Path | None = None) -> ArmEnv:
    """The provisioned runtime at root (default: default_home()), or EdgeExportError naming the fix."""
    root = Path(root).expanduser().absolute() if root is not None else default_home().absolute()
    env, why = _check(root)
    if env is None:
        raise EdgeExportError(NOT_SET_UP if why == "missing" else f"{NOT_SET_UP} again ({why})")
    return env


def setup(cache_dir: str | Path | None = None, progress: Progress | None = None, *, force: bool = False) -> ArmEnv:
    """Provision the runtime into cache_dir (default: default_home()); a no-op when it is complete and matches
    this host's ai-edge-litert and numpy. Raises EdgeExportError (one line) on failure, leaving cache_dir as it was."""
    say = progress or (lambda msg: None)
    root = Path(cache_dir).expanduser().absolute() if cache_dir is not None else default_home().absolute()
    root.parent.mkdir(parents=True, exist_ok=True)
    with locked(root.parent / f".{root.name}.lock"):
        if not force:
            env, _ = _check(root)
            if env is not None:
                say(f"already provisioned: {env.describe()}")
                return env
        for stale in root.parent.glob(f".{root.name}.tmp-*"):  # left by a killed setup; the lock says it is dead
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
        try:
            stamp = _provision_into(tmp, say)
            swap_into_place(tmp, root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    env = load_env(root)
    say(f"ready in {stamp['seconds']['total']:.0f} s: {env.describe()}")
    return env


def _check(root: Path) -> tuple[ArmEnv | None, str]:
    """(the env, '') when root is complete and current, else (None, why)."""
    try:
        stamp = json.loads((root / STAMP).read_text())
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError):
        return None, f"{root / STAMP} is unreadable"
    if stamp.get("format") != FORMAT or not stamp.get("complete"):
        return None, f"{root} was made by another version of edge-export"
    try:
        host = host_versions()
    except EdgeExportError as e:
        return None, str(e)
    if stamp.get("host") != host:
        return None, f"it was made for ai-edge-litert/numpy {stamp.get('host')}, this Python has {host}"
    qemu = Path(stamp.get("qemu_path", ""))
    qemu = qemu if qemu.is_absolute() else root / qemu
    needed = [qemu, root / "sysroot" / PYTHON, root / "site/ai_edge_litert/interpreter.py",
              root / "site/numpy/__init__.py"]
    lost = [p for p in needed if not p.exists()]
    if lost:
        return None, f"{lost[0]} is missing"
    return ArmEnv(root=root, qemu=qemu, versions=dict(stamp.get("versions", {})), cpus=dict(stamp.get("cpus", {})),
                  sme_check=dict(stamp.get("sme_check", {}))), ""


def with_qemu(env: ArmEnv, qemu: str | Path) -> ArmEnv:
    """`env` with another qemu-aarch64 binary (e.g. an older QEMU, to show what it gets wrong): its version, the
    hwcaps each --cpu exposes under it and its own SMOPA check, so get_cpu(name, env) and runs judge that QEMU."""
    from edge_export.arm.cpus import CPUS
    from edge_export.arm.run import probe_cpu
    from edge_export.arm.sme import smopa_check

    path = Path(qemu).expanduser().absolute()
    if not path.is_file():
        raise EdgeExportError(f"{path} does not exist: pass a qemu-aarch64 binary")
    other = replace(env, qemu=path, versions={**env.versions, "qemu": _qemu_version(path)})
    cpus = {}
    for name, cpu in CPUS.items():
        try:
            cpus[name] = {"qemu_cpu": cpu.qemu_cpu, "level": cpu.level, "features": probe_cpu(other, name)}
        except EdgeExportError as e:
            cpus[name] = {"qemu_cpu": cpu.qemu_cpu, "level": cpu.level, "error": str(e)}
    other = replace(other, cpus=cpus)
    return replace(other, sme_check=smopa_check(other))


def _provision_into(tmp: Path, say: Progress) -> dict:
    from edge_export.arm.debian import SYSROOT_ROOTS, Apt, extract

    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    host = host_versions()
    t = time.perf_counter()
    say("reading Debian's package lists (private apt state, + arm64)")
    apt = Apt(tmp / ".apt")
    apt.update()
    seconds["apt_update"] = time.perf_counter() - t

    t = time.perf_counter()
    qemu, qemu_rel, qemu_version, qemu_source = _fetch_qemu(apt, tmp, say)
    seconds["qemu"] = time.perf_counter() - t

    t = time.perf_counter()
    say("resolving python3.11:arm64's dependencies")
    packages = apt.closure(SYSROOT_ROOTS)
    say(f"downloading {len(packages)} arm64 .debs")
    debs = apt.download([f"{p}:arm64={v}" for p, v in packages.items()], tmp / ".debs")
    for i, deb in enumerate(debs, 1):
        say(f"unpacking arm64 .debs {i}/{len(debs)}")
        extract(deb, tmp / "sysroot")
    for junk in ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/lintian"):
        shutil.rmtree(tmp / "sysroot" / junk, ignore_errors=True)  # not read at run time: ~10 MB less
    seconds["sysroot"] = time.perf_counter() - t

    t = time.perf_counter()
    wheels = _wheels(host, tmp / ".wheels", say)
    for w in wheels:
        say(f"unpacking {w.name}")
        try:
            with zipfile.ZipFile(w) as zf:
                zf.extractall(tmp / "site")
        except zipfile.BadZipFile:
            raise EdgeExportError(f"{w.name} is not a wheel: clear pip's cache (`pip cache purge`) and run "
                                  f"`edge-export arm setup` again") from None
    seconds["wheels"] = time.perf_counter() - t

    for scratch in (".apt", ".apt-qemu", ".debs", ".debs-qemu", ".qemu", ".wheels"):
        shutil.rmtree(tmp / scratch, ignore_errors=True)

    t = time.perf_counter()
    guest, cpus, sme_check = _self_test(tmp, qemu, qemu_version, host, say)
    seconds["self_test"] = time.perf_counter() - t

    seconds["total"] = time.perf_counter() - t0
    stamp = {
        "format": FORMAT,
        "complete": True,
        "versions": {"qemu": qemu_version, "python": f"{guest['python']} (Debian {packages['python3.11']})", "ai-edge-litert": guest["ai-edge-litert"],
                     "numpy": guest["numpy"]},
        "host": host,
        "qemu_path": qemu_rel,
        "qemu_source": qemu_source,
        "sme_check": sme_check,
        "debian_packages": packages,
        "wheels": [w.name for w in wheels],
        "cpus": cpus,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    (tmp / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    return stamp


def _fetch_qemu(apt, tmp: Path, say: Progress) -> tuple[Path, str, str, str]:
    """(qemu binary, its path as stamped, its version, where it came from): one on PATH when new enough, else
    Debian QEMU_SUITE's QEMU_PACKAGE from a private apt state of its own."""
    from edge_export.arm.debian import Apt, extract, suite_sources

    on_path = qemu_on_path(say)
    if on_path:
        qemu, qemu_version = on_path
        qemu_rel, qemu_source = str(qemu), f"PATH ({qemu})"
        say(f"using {qemu} (QEMU {qemu_version})")
    else:
        sources = suite_sources(apt.debian_mirror(), QEMU_SUITE)
        say(f"reading Debian {QEMU_SUITE}'s package lists for QEMU (private apt state, {QEMU_SUITE} main only)")
        qapt = Apt(tmp / ".apt-qemu", sources=sources)
        qapt.update()
        version = qapt.version(QEMU_PACKAGE)
        if not version.split(":")[-1].startswith(f"{QEMU_SERIES}."):
            raise EdgeExportError(f"Debian {QEMU_SUITE}'s {QEMU_PACKAGE} is {version}, edge-export pins QEMU "
                                  f"{QEMU_SERIES}.x: update edge-export (provision.QEMU_SERIES)")
        say(f"downloading Debian {QEMU_SUITE}'s {QEMU_PACKAGE} {version} (~71 MB; only {QEMU} is kept)")
        (deb,) = qapt.download([f"{QEMU_PACKAGE}={version}"], tmp / ".debs-qemu")
        extract(deb, tmp / ".qemu", (f"./usr/bin/{QEMU}",))
        (tmp / "bin").mkdir()
        qemu = (tmp / ".qemu/usr/bin" / QEMU).rename(tmp / "bin" / QEMU)
        qemu_rel, qemu_source = f"bin/{QEMU}", f"Debian {QEMU_SUITE} {QEMU_PACKAGE} {version}"
        qemu_version = _qemu_version(qemu)
    return qemu, qemu_rel, qemu_version, qemu_source


def _self_test(tmp: Path, qemu: Path, qemu_version: str, host: dict[str, str], say: Progress):
    """(the guest's versions, what each CPU level exposes, the SMOPA verdict) of the staged folder."""
    say("self-test: the guest Python imports numpy and ai_edge_litert under QEMU")
    from edge_export.arm.cpus import CPUS
    from edge_export.arm.run import guest_self_test, probe_cpu

    staged = ArmEnv(root=tmp, qemu=qemu, versions={"qemu": qemu_version})  # the folder before its rename
    guest = guest_self_test(staged)
    if guest.get("ai-edge-litert") != host["ai-edge-litert"]:
        raise EdgeExportError(f"the guest imports ai-edge-litert {guest.get('ai-edge-litert')}, not the host's "
                              f"{host['ai-edge-litert']}: run `edge-export arm setup --force`")
    cpus = {}
    for name, cpu in CPUS.items():  # what each model really exposes; a QEMU without the model says so here
        say(f"probing -cpu {cpu.qemu_cpu}")
        try:
            cpus[name] = {"qemu_cpu": cpu.qemu_cpu, "level": cpu.level, "features": probe_cpu(staged, name)}
        except EdgeExportError as e:
            cpus[name] = {"qemu_cpu": cpu.qemu_cpu, "level": cpu.level, "error": str(e)}
    # the SME level's int8 kernels are only as right as QEMU's SMOPA: one instruction against the exact product
    say(f"self-test: one SME SMOPA (int8 outer product) on -cpu max under QEMU {qemu_version}")
    from edge_export.arm.sme import describe, smopa_check

    sme_check = smopa_check(replace(staged, cpus=cpus))
    say(describe(sme_check) + ("" if sme_check["passed"] else ": the max (SME) level is marked unreliable"))
    return guest, cpus, sme_check


def _wheels(host: dict[str, str], into: Path, say: Progress) -> list[Path]:
    litert, numpy = host["ai-edge-litert"], host["numpy"]
    say(f"downloading the cp311 aarch64 wheels of ai-edge-litert {litert} and numpy (pip's cache is reused)")
    if not _pip_download(f"ai-edge-litert=={litert}", into):
        raise EdgeExportError(f"PyPI has no cp311 aarch64 wheel of ai-edge-litert {litert} (or PyPI is not "
                              f"reachable): install an ai-edge-litert version that has one")
    # the host's numpy when it has an aarch64 wheel, else the newest of its minor series (same ABI and behaviour)
    major_minor = ".".join(numpy.split(".")[:2])
    if not (_pip_download(f"numpy=={numpy}", into) or _pip_download(f"numpy=={major_minor}.*", into)):
        raise EdgeExportError(f"PyPI has no cp311 aarch64 wheel of numpy {major_minor}.x (or PyPI is not "
                              f"reachable): install a numpy version that has one")
    # flatbuffers (pure Python): ai_edge_litert's schema module needs it, so the host's model-file checks and the
    # C-API profiler (runtimes/litert/capi.py) can run in the guest too. The interpreter itself does not.
    try:
        fb = f"flatbuffers=={metadata.version('flatbuffers')}"
    except metadata.PackageNotFoundError:
        fb = "flatbuffers"
    if not _pip_download(fb, into, pure=True):
        raise EdgeExportError(f"`pip download {fb}` failed: check access to PyPI")
    return sorted(into.glob("*.whl"))


def _pip_download(spec: str, into: Path, pure: bool = False) -> bool:
    platforms = [] if pure else [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    abi = [] if pure else ["--implementation", "cp", "--abi", "cp311"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
           *abi, *platforms, "--disable-pip-version-check", "-q",
           "-d", str(into), spec]
    # The guest needs no other dependency of ai-edge-litert: its Interpreter imports only numpy.
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError:  # this Python cannot be started as a child (permissions): the caller's one-line error says pip
        return False
    return proc.returncode == 0


def qemu_on_path(say: Progress = lambda m: None) -> tuple[Path, str] | None:
    """(path, version) of a qemu-aarch64[-static] on PATH that is QEMU_MIN or newer; None otherwise (an older one
    is named and skipped: its SMOPA is wrong)."""
    for name in QEMU_ON_PATH:
        found = shutil.which(name)
        if not found:
            continue
        path = Path(found).resolve()
        try:
            version = _qemu_version(path)
        except EdgeExportError:
            continue
        if qemu_release(version) >= QEMU_MIN:
            return path, version
        say(f"not using {found}: QEMU {version} is older than {'.'.join(map(str, QEMU_MIN))} (its SME SMOPA is "
            f"wrong, QEMU issue #2083)")
    return None


def qemu_release(version: str) -> tuple[int, int]:
    """(10, 0) from '10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)'; (0, 0) when unparsable."""
    import re

    m = re.match(r"\s*(\d+)\.(\d+)", version)
    return (int(m[1]), int(m[2])) if m else (0, 0)


def _qemu_version(qemu: Path) -> str:
    """'10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)' from `qemu-aarch64 --version`."""
    try:
        out = subprocess.run([str(qemu), "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EdgeExportError(f"{qemu} does not run ({e}): remove it from PATH, or run `edge-export arm setup "
                             f"--force`") from None
    first = (out.splitlines() or [""])[0]
    if "version" not in first:
        raise EdgeExportError(f"{qemu} --version printed {first!r}: not QEMU, remove it from PATH")
    return first.split("version", 1)[1].strip()
