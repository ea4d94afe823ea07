"""`edge-export profile`, `compare`, `dashboard`: per-op profiles, side by side, and the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edge_export.cli.app import app
from edge_export.cli.common import Progress, console, err, fail
from edge_export.cli.output import keep_log_in
from edge_export.errors import EdgeExportError


@app.command("profile")
def profile_cmd(
    artifact_dir: Path,
    device: str = typer.Option("host", "--device", help="host | adb | adb:SERIAL | adb:all | qemu-arm64[:CPU] (Arm "
                               "kernels under QEMU: emulated times, relative cost only)"),
    runs: int = typer.Option(20, "--runs"),
    warmup: int = typer.Option(3, "--warmup"),
    threads: int = typer.Option(1, "--threads"),
    out: Optional[Path] = typer.Option(None, "--out", help="profile JSON (default ARTIFACT_DIR/profile-<device>.json)"),
    eager: bool = typer.Option(False, "--eager", help="also profile eager PyTorch for the same model (ARTIFACT_DIR/profile-eager.json)"),
    top: int = typer.Option(15, "--top", help="layers to show"),
    adb: Optional[str] = typer.Option(None, "--adb", help="adb binary (else $ADB, else PATH)"),
    executor_runner: Optional[Path] = typer.Option(None, "--executor-runner", help="Android executor_runner built with ETDump (else $EDGE_EXPORT_EXECUTOR_RUNNER)"),
    benchmark_model: Optional[Path] = typer.Option(None, "--benchmark-model", help="Android benchmark_model (else $EDGE_EXPORT_BENCHMARK_MODEL)"),
    kernel_mode: Optional[str] = typer.Option(None, "--kernel-mode", help="TFLite: delegate (XNNPACK, default) | builtin"),
    numeric_gap: bool = typer.Option(False, "--numeric-gap", help="host only: also compare every module's output in the program with PyTorch"),
    gap_images: int = typer.Option(8, "--gap-images", help="photographs for --numeric-gap"),
    model_explorer: Optional[Path] = typer.Option(
        None, "--model-explorer", metavar="FILE",
        help="also write a Model Explorer node-data JSON: each graph node's median latency (with --numeric-gap, "
             "each module's gap in FILE's stem + .numeric-gap.json); .tflite and ExecuTorch XNNPACK programs"),
) -> None:
    """Per-op latency from real runs, attributed to PyTorch modules; writes the profile JSON.

    On a device (--device adb...) the default output is ARTIFACT_DIR/profile-adb_<serial>.json, one per device
    (and --model-explorer FILE becomes FILE's stem + -adb_<serial> when several devices are profiled).
    --device qemu-arm64[:CPU] runs a .tflite on LiteRT's aarch64 build under QEMU (`edge-export arm setup` first):
    real Arm op order and counts, emulated times (relative cost only, never device latency); the default output
    is ARTIFACT_DIR/profile-qemu-arm64_<cpu>.json.
    """
    from edge_export.profile.dispatch import profile_artifact, profile_devices
    from edge_export.report.terminal import print_profile

    options = {k: str(v) for k, v in (("executor_runner", executor_runner), ("benchmark_model", benchmark_model),
                                      ("kernel_mode", kernel_mode)) if v is not None}
    try:
        with Progress() as progress:
            progress(f"profiling {artifact_dir} on {device}")
            if numeric_gap:
                from edge_export.profile.numeric_gap import check_supported

                check_supported(artifact_dir, None, device, gap_images)
            if model_explorer is not None:
                from edge_export.profile.dispatch import default_profile_path
                from edge_export.report.model_explorer import check_supported as check_overlay

                check_overlay(artifact_dir, model_explorer,
                              out or default_profile_path(artifact_dir, _resolved(device)))
            if device.startswith("adb"):
                results = profile_devices(artifact_dir, device, runs, warmup, threads, out, progress, adb=adb, options=options)
                failed = [r for r in results if r.error]
                for r in results:
                    if r.profile is not None:
                        print_profile(r.profile, console, top)
                        console.print(f"wrote {r.path}", highlight=False)
                        keep_log_in(Path(artifact_dir), "profile.log")
                        if model_explorer is not None:
                            several = len(results) > 1
                            where = r.where.replace(":", "_")
                            me_path = (model_explorer.with_name(f"{model_explorer.stem}-{where}{model_explorer.suffix}")
                                       if several else model_explorer)
                            _print_overlay(_write_model_explorer(r.profile, artifact_dir, me_path, progress))
                for r in failed:
                    err.print(f"[bold red]error:[/] {r.error}", highlight=False, soft_wrap=True)
                if failed:
                    raise typer.Exit(failed[0].exception.exit_code if failed[0].exception else 1)
                return
            profile, path = profile_artifact(artifact_dir, device, runs, warmup, threads, out, progress,
                                             adb=adb, options=options or None, numeric_gap=numeric_gap,
                                             gap_images=gap_images)
            if eager:
                from edge_export.profile.eager import collect_eager
                from edge_export.profile.schema import save_profile

                progress("profiling eager PyTorch")
                save_profile(collect_eager(artifact_dir, runs, warmup, threads), Path(artifact_dir) / "profile-eager.json")
            if model_explorer is not None:
                overlay = _write_model_explorer(profile, artifact_dir, model_explorer, progress)
    except EdgeExportError as e:
        fail(e)
    keep_log_in(Path(artifact_dir), "profile.log")
    print_profile(profile, console, top)
    timing = profile.provenance.device.get("timing")  # Arm under QEMU: say what the times are, in its words
    if timing:
        console.print(f"[yellow]times: {timing}[/] ({profile.provenance.device.get('emulator', '')}, "
                      f"{profile.provenance.device.get('feature_level', '')}): not device latency", highlight=False,
                      soft_wrap=True)
    console.print(f"wrote {path}", highlight=False)
    if model_explorer is not None:
        _print_overlay(overlay)


def _resolved(device: str) -> str:
    """`qemu-arm64` names its CPU in the profile's file name (profile-qemu-arm64_cortex-a76.json)."""
    from edge_export.arm.cpus import QEMU_DEVICE, parse_device

    cpu = parse_device(device)
    return f"{QEMU_DEVICE}:{cpu.name}" if cpu else device


def _write_model_explorer(profile, artifact_dir: Path, path: Path, progress):
    """The Model Explorer node-data overlay of one profile (edge_export.report.model_explorer)."""
    from edge_export.report.model_explorer import write_overlay

    progress(f"writing Model Explorer node data {path}")
    return write_overlay(profile, artifact_dir, path)


def _print_overlay(overlay) -> None:
    console.print(overlay.summary(), highlight=False, soft_wrap=True)
    console.print(f"wrote {overlay.path}" + (f" and {overlay.gap_path}" if overlay.gap_path else ""), highlight=False)


@app.command("compare")
def compare_cmd(
    profiles: List[Path] = typer.Argument(..., help="profile JSON files (or artifact dirs holding them)"),
    depth: str = typer.Option("block", "--depth", help="stage | block | layer | N"),
    top: int = typer.Option(20, "--top"),
) -> None:
    """Per-module latency side by side across backends."""
    from edge_export.report.terminal import compare_profiles

    try:
        compare_profiles(profiles, depth, top, console)
    except EdgeExportError as e:
        fail(e)


@app.command("dashboard")
def dashboard_cmd(
    inputs: List[Path] = typer.Argument(..., help="profile JSONs and/or artifact dirs (or a folder of them)"),
    out: Path = typer.Option(Path("report.html"), "--out", "-o"),
    eager: Optional[Path] = typer.Option(None, "--eager", help="eager PyTorch profile to compare against"),
) -> None:
    """One self-contained HTML report (opens offline) of artifacts and their profiles."""
    from edge_export.report.dashboard import build_dashboard

    try:
        path = build_dashboard(list(inputs), out, eager_profile=eager)
    except EdgeExportError as e:
        fail(e)
    console.print(f"wrote {path}", highlight=False)
