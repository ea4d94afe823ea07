"""Read what the Android app's benchmark mode produced into the profile format.

The app (android_app/, Java core `BenchmarkSession`) writes ``results.json`` in exactly the schema of
:mod:`edge_export.profile.schema` (collector ``"android-app"``, ``provenance.where == "device"``) and logs one line
``EDGE_EXPORT_RESULT {"status": "ok", "results": "/sdcard/...", ...}`` when done. This module parses that
line, and turns a pulled ``results.json`` into a checked :class:`Profile` (with ``where`` set to
``adb:<serial>`` when the host knows the serial), optionally against the artifact's manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_export.profile.schema import Profile, ProfileError, load_profile, save_profile

RESULT_PREFIX = "EDGE_EXPORT_RESULT "
LOG_TAG = "EdgeExport"
COLLECTOR = "android-app"
RESULTS_FILE = "results.json"
ETDUMP_FILE = "results.etdump"


class AndroidResultError(ProfileError):
    """The app reported a failure, or its output does not fit the artifact it claims to measure."""


def parse_result_lines(log_text: str) -> list[dict[str, Any]]:
    """Every result object in a log (e.g. ``adb logcat -d`` output), in order. Malformed ones are skipped."""
    found = []
    for line in log_text.splitlines():
        i = line.find(RESULT_PREFIX)
        if i < 0:
            continue
        try:
            obj = json.loads(line[i + len(RESULT_PREFIX):].strip())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj.get("status") in ("ok", "error"):
            found.append(obj)
    return found


def find_result(log_text: str, run_id: str | None = None) -> dict[str, Any] | None:
    """The last result line for ``run_id`` (or the last one at all when run_id is None), or None."""
    results = [r for r in parse_result_lines(log_text) if run_id is None or r.get("run_id") == run_id]
    return results[-1] if results else None


def check_ok(result: dict[str, Any]) -> dict[str, Any]:
    """Raise AndroidResultError for an error result; return an ok result unchanged."""
    if result.get("status") != "ok":
        stage = result.get("stage") or "?"
        raise AndroidResultError(f"the app's benchmark failed at stage {stage!r}: {result.get('error')}")
    if not isinstance(result.get("results"), str):
        raise AndroidResultError(f"the app's result line names no results file: {result}")
    return result


def read_app_results(path: Path, *, serial: str | None = None, manifest: Any = None) -> Profile:
    """Load and check an app-written results.json.

    serial: when given, ``provenance.where`` becomes ``adb:<serial>`` (the app itself only knows "device").
    manifest: an ``edge_export.artifacts.Manifest``; the profile must describe that artifact (same program
    sha256, model id, target and runtime), so a stale results.json from another model is refused.
    """
    profile = load_profile(Path(path))
    prov = profile.provenance
    if prov.collector != COLLECTOR:
        raise AndroidResultError(f"{path}: collector is {prov.collector!r}, not {COLLECTOR!r}: not written by the Android app")
    if manifest is not None:
        wanted = {
            "artifact_sha256": manifest.file_sha256,
            "model_id": manifest.model_id,
            "target": manifest.target,
            "runtime": manifest.runtime,
        }
        for field, value in wanted.items():
            got = getattr(prov, field)
            if got != value:
                raise AndroidResultError(
                    f"{path}: provenance.{field} is {got!r} but the artifact has {value!r}: "
                    "these results are from another artifact (deploy it again and re-run)"
                )
    if serial is not None:
        if prov.where not in ("device", f"adb:{serial}"):
            raise AndroidResultError(f"{path}: provenance.where is {prov.where!r}, expected 'device' from the app")
        profile = profile.model_copy(update={"provenance": prov.model_copy(update={"where": f"adb:{serial}"})})
    return profile


def etdump_path(profile: Profile, results_path: Path) -> Path | None:
    """The ETDump the app wrote next to results.json (ExecuTorch runtime built with event tracing), if any."""
    name = profile.provenance.options.get("etdump_file")
    if not name:
        return None
    p = Path(results_path).parent / name
    return p if p.is_file() else None


def convert(results_path: Path, out_path: Path, *, serial: str | None = None, manifest: Any = None) -> Profile:
    """read_app_results + save_profile: the pulled file becomes a regular profile on the host."""
    profile = read_app_results(results_path, serial=serial, manifest=manifest)
    save_profile(profile, Path(out_path))
    return profile
