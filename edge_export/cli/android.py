"""`edge-export android deploy|collect`: the Android sample app over adb."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edge_export.cli.app import QuietTyper, app
from edge_export.cli.common import Progress, console, fail
from edge_export.errors import EdgeExportError


android_app_cli = QuietTyper(help="The Android sample app over adb: deploy an artifact, collect its benchmark results.")
app.add_typer(android_app_cli, name="android")


@android_app_cli.command("deploy")
def android_deploy_cmd(
    artifact_dir: Path,
    serial: Optional[str] = typer.Option(None, "--serial", "-s"),
    runs: int = typer.Option(50, "--runs"),
    threads: int = typer.Option(4, "--threads"),
    warmup: int = typer.Option(5, "--warmup"),
    apk: Optional[Path] = typer.Option(None, "--apk", help="install this APK first if the app is missing"),
    image: Optional[str] = typer.Option(None, "--image", help="image on the device to classify (default: bundled)"),
    adb: Optional[str] = typer.Option(None, "--adb"),
) -> None:
    """Push model + manifest to the app and start its benchmark mode."""
    from edge_export.devices.android_app import deploy

    try:
        with Progress() as progress:
            d = deploy(artifact_dir, serial, runs, threads, warmup, adb=adb, apk=apk, image=image, progress=progress)
    except EdgeExportError as e:
        fail(e)
    console.print(
        f"started benchmark of {d.model} on {d.serial} (run id {d.run_id}); then: edge-export android collect "
        f"--serial {d.serial} --artifact {d.artifact_dir} --run-id {d.run_id}", highlight=False, soft_wrap=True,
    )


@android_app_cli.command("collect")
def android_collect_cmd(
    serial: Optional[str] = typer.Option(None, "--serial", "-s"),
    out: Optional[Path] = typer.Option(None, "--out"),
    artifact_dir: Optional[Path] = typer.Option(None, "--artifact", help="the artifact dir that was deployed"),
    run_id: Optional[str] = typer.Option(None, "--run-id"),
    timeout: float = typer.Option(900, "--timeout", help="seconds to wait for the app's result line"),
    adb: Optional[str] = typer.Option(None, "--adb"),
) -> None:
    """Wait for the app's result, pull results.json and write it as a profile."""
    from edge_export.devices.android_app import collect
    from edge_export.report.terminal import print_profile

    try:
        with Progress() as progress:
            profile, path = collect(serial, out, adb=adb, artifact_dir=artifact_dir, run_id=run_id, timeout=timeout,
                                    progress=progress)
    except EdgeExportError as e:
        fail(e)
    print_profile(profile, console)
    console.print(f"wrote {path}", highlight=False)
