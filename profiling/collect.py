"""Profile an artifact: pick the collector for its runtime and where it should run; write profile JSON.

A new collector is one file in profiling/collectors/ plus one line in COLLECTORS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edge_export.artifacts import Manifest, check_program_file, read_manifest
from edge_export.errors import EdgeExportError
from profiling.schema import Profile, save_profile


@dataclass
class ProfileRequest:
    artifact_dir: Path
    manifest: Manifest
    runs: int = 20
    warmup: int = 3
    threads: int = 1
    options: dict | None = None
    progress: Callable[[str], None] = lambda m: None


def _executorch_host(req: ProfileRequest) -> Profile:
    from profiling.collectors.executorch_host import collect

    return collect(req)


def _litert_host(req: ProfileRequest) -> Profile:
    from profiling.collectors.litert_host import collect

    return collect(req)


# (runtime, where) -> collector
COLLECTORS: dict[tuple[str, str], Callable[[ProfileRequest], Profile]] = {
    ("executorch", "host"): _executorch_host,
    ("litert", "host"): _litert_host,
}


def default_profile_path(artifact_dir: Path, device: str) -> Path:
    return Path(artifact_dir) / f"profile-{device.replace(':', '_')}.json"


def profile_artifact(
    artifact_dir: Path,
    device: str = "host",
    runs: int = 20,
    warmup: int = 3,
    threads: int = 1,
    out: Path | None = None,
    progress: Callable[[str], None] = lambda m: None,
) -> tuple[Profile, Path]:
    if runs < 1 or warmup < 0 or threads < 1:
        raise EdgeExportError("--runs and --threads must be >= 1 and --warmup >= 0")
    manifest = read_manifest(artifact_dir)
    check_program_file(artifact_dir, manifest)
    where = "host" if device == "host" else "adb"
    collector = COLLECTORS.get((manifest.runtime, where))
    if collector is None:
        raise EdgeExportError(f"no {where} profiler for runtime {manifest.runtime!r} ({manifest.target})")
    profile = collector(ProfileRequest(Path(artifact_dir), manifest, runs, warmup, threads, {"device": device}, progress))
    path = Path(out) if out else default_profile_path(artifact_dir, device)
    save_profile(profile, path)
    return profile, path
