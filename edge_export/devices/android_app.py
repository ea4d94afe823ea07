"""The Android app's benchmark mode driven from the host over adb: ``deploy`` then ``collect``.

deploy(artifact_dir, serial, runs, threads, warmup)
    pushes the artifact's manifest.json and program file to the app's external files dir
    (``/sdcard/Android/data/com.edgeexport.bench/files/models/<artifact dir name>/``, writable by adb
    without root), removes results of earlier runs, clears the log, and starts benchmark mode:
    ``am start -n com.edgeexport.bench/.BenchmarkActivity --es model NAME --ei runs N --ei threads T
    --ei warmup W --es run_id ID``. It remembers (serial -> run id, artifact dir) in a small state file
    ($XDG_CACHE_HOME/edge-export/android-<serial>.json) for ``collect``.
collect(serial, out)
    waits for the app's one machine-readable log line (``EDGE_EXPORT_RESULT {...}`` under tag
    EdgeExport, for this run id), pulls the results.json it names (``adb pull``; ``run-as`` for a file in
    the app's private dir), checks it against the artifact's manifest and converts it into a profile
    through :mod:`edge_export.devices.android_results` (``where`` = ``adb:<serial>``). The app's
    benchmark_results.json (ExecuTorch Minibench format, same run) is pulled too when there, and its trimmed mean
    and PSS growth go into a note (:mod:`edge_export.devices.minibench`). If the app also wrote an ETDump
    (an ExecuTorch AAR built with event tracing) and the artifact is known, per-op rows are added with the
    host collector's XNNPACK attribution. A device that disconnects before the results are pulled raises
    DeviceDisconnected and nothing is written.

Package and activity names are the app's (android_app/app/build.gradle.kts applicationId,
AndroidManifest.xml .BenchmarkActivity). Exercised only with the stand-in adb of tests/fake_adb, whose
"app" runs the app's own Java core (BenchmarkSession with its stand-in engine and clock); no real phone
and no real app build were exercised.
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edge_export.artifacts import MANIFEST_NAME, check_program_file, read_manifest
from edge_export.errors import EdgeExportError
from edge_export.devices import android_results, minibench
from edge_export.devices.adb import Adb, AdbCommandFailed, AdbDevice, DeviceDisconnected, DeviceUnavailable
from edge_export.profile.schema import ProfileError, save_profile

PACKAGE = "com.edgeexport.bench"
ACTIVITY = ".BenchmarkActivity"
EXTERNAL_FILES = f"/sdcard/Android/data/{PACKAGE}/files"
MODELS_DIR = f"{EXTERNAL_FILES}/models"
DEFAULT_TIMEOUT_S = 900.0


@dataclass
class Deployment:
    serial: str
    run_id: str
    model: str  # name under the app's models dir
    remote_dir: str
    artifact_dir: Path
    am_output: str


def _state_path(serial: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-export"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in serial)
    return base / f"android-{safe}.json"


def _one_device(adb: Adb, serial: str | None) -> AdbDevice:
    serials = adb.resolve(f"adb:{serial}" if serial else "adb")
    dev = adb.device(serials[0])
    dev.check_ready()
    return dev


def app_installed(dev: AdbDevice) -> bool:
    out = dev.shell(["pm", "list", "packages", PACKAGE], check=False, what="pm list packages").output
    return any(line.strip() == f"package:{PACKAGE}" for line in out.splitlines())


def deploy(
    artifact_dir: Path,
    serial: str | None = None,
    runs: int = 50,
    threads: int = 4,
    warmup: int = 5,
    *,
    adb: str | None = None,
    apk: Path | None = None,
    image: str | None = None,
    run_id: str | None = None,
    progress: Callable[[str], None] = lambda m: None,
) -> Deployment:
    """Push the artifact to the app and start benchmark mode (returns at once; see collect)."""
    if runs < 1 or warmup < 0 or threads < 0:
        raise EdgeExportError("--runs must be >= 1, --warmup >= 0 and --threads >= 0 (0 = the runtime's default)")
    artifact_dir = Path(artifact_dir)
    manifest = read_manifest(artifact_dir)
    program = check_program_file(artifact_dir, manifest)
    dev = _one_device(Adb(adb), serial)
    if apk is not None:
        progress(f"{dev.serial}: installing {Path(apk).name}")
        dev.install(apk)
    if not app_installed(dev):
        raise EdgeExportError(f"the app {PACKAGE} is not installed on {dev.serial}: build android_app "
                              "(./gradlew assembleDebug) and pass --apk app/build/outputs/apk/debug/app-debug.apk")
    name = artifact_dir.resolve().name
    remote = f"{MODELS_DIR}/{name}"
    run_id = run_id or uuid.uuid4().hex[:12]
    progress(f"{dev.serial}: pushing {MANIFEST_NAME} and {program.name} to {remote}")
    dev.mkdir(remote)
    dev.push(artifact_dir / MANIFEST_NAME, f"{remote}/{MANIFEST_NAME}")
    dev.push(program, f"{remote}/{program.name}")
    dev.remove(f"{EXTERNAL_FILES}/{android_results.RESULTS_FILE}", f"{EXTERNAL_FILES}/{android_results.ETDUMP_FILE}",
               f"{EXTERNAL_FILES}/{minibench.BENCHMARK_RESULTS_FILE}")
    dev.clear_logcat()
    cmd = ["am", "start", "-n", f"{PACKAGE}/{ACTIVITY}", "--es", "model", name, "--ei", "runs", str(runs),
           "--ei", "threads", str(threads), "--ei", "warmup", str(warmup), "--es", "run_id", run_id]
    if image:
        cmd += ["--es", "image", image]
    progress(f"{dev.serial}: starting benchmark mode ({warmup} warm-up + {runs} runs, {threads} thread(s))")
    res = dev.shell(cmd, check=False, what="am start")
    if res.status != 0 or "Error" in res.output or "Exception" in res.output:
        raise EdgeExportError(f"could not start {PACKAGE}/{ACTIVITY} on {dev.serial}: "
                              + " | ".join(ln.strip() for ln in res.output.splitlines() if ln.strip())[:300])
    state = {"serial": dev.serial, "run_id": run_id, "model": name, "artifact_dir": str(artifact_dir.resolve()),
             "started_at": time.time()}
    path = _state_path(dev.serial)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2) + "\n")
    return Deployment(dev.serial, run_id, name, remote, artifact_dir, res.output)


def _wait_for_result(dev: AdbDevice, run_id: str | None, timeout: float, poll: float,
                     progress: Callable[[str], None]) -> dict:
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            text = dev.logcat("-s", f"{android_results.LOG_TAG}:I")
        except DeviceUnavailable:
            raise dev._gone("the wait for the app's result") from None
        result = android_results.find_result(text, run_id)
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise EdgeExportError(
                f"no result from the app on {dev.serial} after {timeout:.0f} s (run id {run_id}): is benchmark mode "
                f"still running? check `adb -s {dev.serial} logcat -s {android_results.LOG_TAG}`")
        if not said:
            progress(f"{dev.serial}: waiting for the app's {android_results.RESULT_PREFIX.strip()} line")
            said = True
        time.sleep(poll)


def _fetch(dev: AdbDevice, remote: str, local: Path) -> Path:
    """adb pull; for the app's private dir (not readable by the shell user) `run-as PKG cat`."""
    try:
        return dev.pull(remote, local)
    except AdbCommandFailed as e:
        if "Permission denied" not in str(e) and "/data/data/" not in remote and "/data/user/" not in remote:
            raise
    res = dev.shell(f"run-as {PACKAGE} cat {shlex.quote(remote)}", check=False, what="run-as cat")
    if res.status != 0:
        raise EdgeExportError(f"cannot read {remote} on {dev.serial} (adb pull and run-as both failed: "
                              f"{res.output.strip()[:200]})")
    local.write_text(res.output + "\n")
    return local


def _fetch_optional(dev: AdbDevice, remote: str, local: Path) -> Path | None:
    """_fetch for a file the run may not have written: None when neither adb pull nor run-as can read it, unless
    the device is gone."""
    try:
        return _fetch(dev, remote, local)
    except DeviceDisconnected:
        raise
    except EdgeExportError:  # AdbError from the pull, or run-as refusing a private file that is not there
        return None


def collect(
    serial: str | None = None,
    out: Path | None = None,
    *,
    adb: str | None = None,
    artifact_dir: Path | None = None,
    run_id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    poll: float = 1.0,
    progress: Callable[[str], None] = lambda m: None,
):
    """Wait for the app's result, pull results.json, convert it into a profile; returns (Profile, path)."""
    dev = _one_device(Adb(adb), serial)
    state_file = _state_path(dev.serial)
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    run_id = run_id or state.get("run_id")
    if artifact_dir is None and state.get("artifact_dir"):
        artifact_dir = Path(state["artifact_dir"])
    manifest = read_manifest(artifact_dir) if artifact_dir is not None else None

    result = _wait_for_result(dev, run_id, timeout, poll, progress)
    try:
        android_results.check_ok(result)
    except ProfileError as e:
        raise EdgeExportError(f"{dev.serial}: {e}") from None
    with tempfile.TemporaryDirectory(prefix="android-collect-") as tmp:
        tmp = Path(tmp)
        progress(f"{dev.serial}: pulling {result['results']}")
        local = _fetch(dev, result["results"], tmp / android_results.RESULTS_FILE)
        etdump = None
        if result.get("etdump"):
            etdump = _fetch_optional(dev, result["etdump"], tmp / android_results.ETDUMP_FILE)
        # the app's Minibench-format file beside results.json (absent from app builds older than it)
        beside = posixpath.join(posixpath.dirname(result["results"]), minibench.BENCHMARK_RESULTS_FILE)
        mb = _fetch_optional(dev, beside, tmp / minibench.BENCHMARK_RESULTS_FILE)
        try:
            profile = android_results.read_app_results(local, serial=dev.serial, manifest=manifest)
        except ProfileError as e:
            raise EdgeExportError(str(e)) from None
        profile = minibench.add_file_to_profile(profile, mb)
        if etdump is not None and manifest is not None and not profile.rows:
            profile = _with_etdump_rows(profile, Path(artifact_dir), manifest, etdump)
        if out is None:
            base = Path(artifact_dir) if artifact_dir is not None else Path.cwd()
            out = base / f"profile-adb_{dev.serial.replace(':', '_')}.json"
        out = Path(out)
        save_profile(profile, out)
        if etdump is not None:
            kept = out.with_suffix(".etdump")
            kept.write_bytes(etdump.read_bytes())
    if state_file.is_file() and state.get("run_id") == run_id:
        state_file.unlink()
    return profile, out


def _with_etdump_rows(profile, artifact_dir: Path, manifest, etdump: Path):
    """Per-op rows from the app's ETDump (all warm-up and timed runs; the warm-up ones are skipped), for a
    runtime that reads ETDumps (ExecuTorch); the profile as it is otherwise."""
    from edge_export.runtimes import get_runtime

    try:
        out = get_runtime(manifest.runtime).etdump_rows(artifact_dir, manifest, etdump, profile.provenance.warmup)
    except EdgeExportError as e:
        return profile.model_copy(update={"notes": profile.notes + [f"the app's ETDump was not usable: {e}"]})
    if out is None:
        return profile
    rows, notes = (out[0], out[2]) if len(out) == 3 else out
    return profile.model_copy(update={"rows": rows, "notes": profile.notes + list(notes) + [
        "per-op rows from the app's ETDump, attributed on the host like the host collector's"]})
