"""Profile an artifact: its runtime's profiler for where it should run (host, adb devices, qemu-arm64: Arm kernels
under QEMU, emulated times); write profile JSON.

A runtime's profilers belong to its folder (edge_export/runtimes/<name>/); this module only dispatches.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edge_export.artifacts import Manifest, check_program_file, read_manifest
from edge_export.errors import EdgeExportError
from edge_export.profile.schema import Profile, save_profile


@dataclass
class ProfileRequest:
    artifact_dir: Path
    manifest: Manifest
    runs: int = 20
    warmup: int = 3
    threads: int = 1
    options: dict | None = None
    progress: Callable[[str], None] = lambda m: None


def collector_for(manifest: Manifest, where: str) -> Callable[[ProfileRequest], Profile]:
    """The profiler of the artifact's runtime that runs on `where` ("host", "adb", "qemu-arm64"); its rows name modules
    in the manifest's canonical names (edge_export.attribution.module_names)."""
    from edge_export.attribution.module_names import canonical_profile
    from edge_export.runtimes import get_runtime

    runtime = get_runtime(manifest.runtime)
    if where not in runtime.profilers:
        raise EdgeExportError(f"no {where} profiler for runtime {manifest.runtime!r} ({manifest.target})")
    return lambda req: canonical_profile(runtime.collect(where, req), req.manifest)


def default_profile_path(artifact_dir: Path, device: str) -> Path:
    return Path(artifact_dir) / f"profile-{device.replace(':', '_')}.json"


@dataclass
class DeviceResult:
    """One device of a multi-device run: the profile and where it was written, or why it failed."""

    where: str  # "adb:<serial>"
    profile: Profile | None = None
    path: Path | None = None
    error: str | None = None
    exception: EdgeExportError | None = field(default=None, repr=False)


def _device_out(artifact_dir: Path, where: str, out: Path | None, several: bool) -> Path:
    if out is None:
        return default_profile_path(artifact_dir, where)
    out = Path(out)
    return out.with_name(f"{out.stem}-{where.replace(':', '_')}{out.suffix}") if several else out


def profile_devices(
    artifact_dir: Path,
    device: str = "adb",
    runs: int = 20,
    warmup: int = 3,
    threads: int = 1,
    out: Path | None = None,
    progress: Callable[[str], None] = lambda m: None,
    *,
    adb: str | None = None,
    options: dict | None = None,
) -> list[DeviceResult]:
    """Profile on every device ``device`` names (``adb``, ``adb:SERIAL``, ``adb:S1,S2``, ``adb:all``), in parallel.

    One profile per device, written to ``profile-adb_<serial>.json`` in the artifact dir (or, with ``out`` and
    several devices, ``<out stem>-adb_<serial><suffix>``). A device that fails (disconnected, runner error...)
    gets an error and NO file; the others are unaffected."""
    from edge_export.devices.adb import Adb

    if device != "adb" and not device.startswith("adb:"):
        raise EdgeExportError(f"bad --device {device!r}: use host, adb, adb:SERIAL, adb:S1,S2, adb:all or "
                              f"qemu-arm64[:CPU]")
    if runs < 1 or warmup < 0 or threads < 1:
        raise EdgeExportError("--runs and --threads must be >= 1 and --warmup >= 0")
    manifest = read_manifest(artifact_dir)
    check_program_file(artifact_dir, manifest)
    collector = collector_for(manifest, "adb")
    client = Adb(adb)
    serials = client.resolve(device)
    several = len(serials) > 1
    if device == "adb:all":
        for d in client.devices():
            if not d.ready:
                progress(f"skipping {d.serial}: {d.state}")

    def one(serial: str) -> DeviceResult:
        where = f"adb:{serial}"
        opts = {**(options or {}), "device": where, "serial": serial, "adb": adb}

        def say(m: str) -> None:
            progress(f"[{serial}] {m}")

        try:
            profile = collector(ProfileRequest(Path(artifact_dir), manifest, runs, warmup, threads, opts, say))
            if not profile.complete:
                return DeviceResult(where, profile, None, "the collection stopped early: not written")
            path = _device_out(artifact_dir, where, out, several)
            save_profile(profile, path)
            say(f"wrote {path}")
            return DeviceResult(where, profile, path)
        except EdgeExportError as e:
            return DeviceResult(where, error=str(e), exception=e)

    if not several:
        return [one(serials[0])]
    with ThreadPoolExecutor(max_workers=len(serials)) as pool:
        return list(pool.map(one, serials))


def profile_artifact(
    artifact_dir: Path,
    device: str = "host",
    runs: int = 20,
    warmup: int = 3,
    threads: int = 1,
    out: Path | None = None,
    progress: Callable[[str], None] = lambda m: None,
    *,
    adb: str | None = None,
    options: dict | None = None,
    numeric_gap: bool = False,
    gap_images: int | None = None,
) -> tuple[Profile, Path]:
    """Profile on the host, on adb device(s) or on Arm kernels under QEMU (``qemu-arm64[:CPU]``: emulated times,
    relative cost only); write the profile JSON; return the (first) profile and its path.

    For several devices (``adb:all``, ``adb:S1,S2``) every device's profile is written (see profile_devices);
    if any device failed, EdgeExportError names the files written and each failure.
    ``numeric_gap`` (host only) also fills ``Profile.numeric_gap`` (edge_export.profile.numeric_gap) on ``gap_images``
    validation photographs."""
    if runs < 1 or warmup < 0 or threads < 1:
        raise EdgeExportError("--runs and --threads must be >= 1 and --warmup >= 0")
    if numeric_gap:
        from edge_export.profile.numeric_gap import DEFAULT_IMAGES, check_supported

        gap_images = DEFAULT_IMAGES if gap_images is None else gap_images
        check_supported(artifact_dir, None, device, gap_images)  # device (host only) and image count
    from edge_export.arm.cpus import QEMU_DEVICE, parse_device

    arm_cpu = parse_device(device)
    if device != "host" and arm_cpu is None:
        results = profile_devices(artifact_dir, device, runs, warmup, threads, out, progress, adb=adb, options=options)
        failed = [r for r in results if r.error]
        if failed:
            done = [r for r in results if not r.error]
            wrote = f"profiled {len(done)} of {len(results)} device(s)" + (
                " (wrote " + ", ".join(str(r.path) for r in done) + ")" if done else "")
            if len(results) == 1:
                raise failed[0].exception or EdgeExportError(failed[0].error)
            raise EdgeExportError(wrote + "; " + "; ".join(f"{r.where}: {r.error}" for r in failed))
        return results[0].profile, results[0].path
    manifest = read_manifest(artifact_dir)
    if arm_cpu is not None:
        from edge_export.arm.validate import check_arm_artifact

        check_arm_artifact(manifest)
        device = f"{QEMU_DEVICE}:{arm_cpu.name}"  # the default file names the CPU
    check_program_file(artifact_dir, manifest)
    if numeric_gap:
        check_supported(artifact_dir, manifest, device, gap_images)
    collector = collector_for(manifest, "host" if arm_cpu is None else QEMU_DEVICE)
    opts = {**(options or {}), "device": device, **({"cpu": arm_cpu.name} if arm_cpu else {})}
    profile = collector(ProfileRequest(Path(artifact_dir), manifest, runs, warmup, threads, opts, progress))
    if numeric_gap:
        from edge_export.profile.numeric_gap import compute_numeric_gap

        from edge_export.attribution.module_names import canonical_profile

        gaps, notes = compute_numeric_gap(artifact_dir, manifest, gap_images, threads, progress)
        profile = canonical_profile(profile.model_copy(update={"numeric_gap": gaps, "notes": [*profile.notes, *notes]}),
                                    manifest)
    path = Path(out) if out else default_profile_path(artifact_dir, device)
    save_profile(profile, path)
    return profile, path
