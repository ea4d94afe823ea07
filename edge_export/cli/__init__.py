"""`edge-export`: thin CLI over the Python API, rendered with rich. Bad input -> one line, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from edge_export.errors import EdgeExportError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Export, validate and profile vision models for edge runtimes.")
console = Console()
err = Console(stderr=True)


def _fail(e: EdgeExportError) -> None:
    err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
    raise typer.Exit(e.exit_code)


def _parse_opts(pairs: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise EdgeExportError(f"bad {what} {p!r}: write KEY=VALUE")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


class _Progress:
    """Spinner with the current step; each finished step is printed with its elapsed time."""

    def __init__(self):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.p = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True)
        self.task = None

    def __enter__(self):
        self.p.__enter__()
        self.task = self.p.add_task("starting", total=None)
        return self

    def __call__(self, msg: str) -> None:
        self.p.console.print(f"[dim]{msg}[/]", highlight=False)
        self.p.update(self.task, description=msg)

    def __exit__(self, *exc):
        self.p.__exit__(*exc)


@app.command("models")
def models_cmd() -> None:
    """The model zoo, with parameter counts and FLOPs at 224x224."""
    from edge_export.models import list_models, load_model
    from edge_export.models.swiftformer.spec import PAPER_PARAMS_M

    table = Table(title="edge-export model zoo")
    for col in ("id", "params (M)", "paper (M)", "GFLOPs", "description"):
        table.add_column(col)
    for entry in list_models():
        m = load_model(entry.model_id)
        table.add_row(
            entry.model_id, f"{m.param_count() / 1e6:.3f}", str(PAPER_PARAMS_M.get(entry.variant, "")),
            f"{m.flops() / 1e9:.3f}", entry.description,
        )
    console.print(table)
    console.print("Other sources: module:<python.path>:<callable>, timm:<name> (needs timm); --checkpoint loads weights.")


@app.command("targets")
def targets_cmd() -> None:
    """Export targets and their options."""
    from edge_export.targets import list_targets

    table = Table(title="targets")
    for col in ("name", "runtime", "precision", "options", "description"):
        table.add_column(col)
    for t in list_targets():
        desc = ("[yellow]experimental[/] " if t.experimental else "") + t.description
        table.add_row(t.name, t.runtime, t.precision, ", ".join(sorted(t.accepted_options)), desc)
    console.print(table)


@app.command("export")
def export_cmd(
    model: str = typer.Argument(..., help="zoo id (see `edge-export models`), module:<path>:<callable> or timm:<name>"),
    target: List[str] = typer.Option(..., "--target", "-t", help="target name; repeat for several"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="original .pth or transformers folder"),
    out: Path = typer.Option(Path("artifacts"), "--out", "-o", help="parent dir for artifact dirs"),
    calib: int = typer.Option(32, "--calib", help="calibration images for int8 targets"),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="input resolution (default: the model's)"),
    seed: int = typer.Option(0, "--seed", help="seed for random init and calibration crops"),
    opt: Optional[List[str]] = typer.Option(None, "--opt", help="model option KEY=VALUE, e.g. layer_scale_init_value=1.0"),
    target_opt: Optional[List[str]] = typer.Option(None, "--target-opt", help="target option KEY=VALUE"),
    layout: Optional[str] = typer.Option(None, "--layout", help="nchw|nhwc for targets that offer a layout choice"),
    soc: Optional[str] = typer.Option(None, "--soc", help="Qualcomm chipset for qnn-* targets (default SM8650)"),
    qnn_sdk: Optional[Path] = typer.Option(None, "--qnn-sdk", help="QAIRT root for qnn-* targets (else QNN_SDK_ROOT)"),
    images: int = typer.Option(8, "--images", help="images to validate each artifact on (0 = skip)"),
    threads: int = typer.Option(1, "--threads", help="runtime threads for validation"),
) -> None:
    """Export MODEL to each --target; every artifact is validated before it is written."""
    from edge_export.export import ExportRequest, export

    try:
        topts = _parse_opts(target_opt, "--target-opt")
        for key, value in (("layout", layout), ("soc", soc), ("qnn_sdk", qnn_sdk)):
            if value is not None:
                topts[key] = str(value)
        request = ExportRequest(
            model=model, targets=list(target), out_dir=out, checkpoint=checkpoint, seed=seed,
            model_options=_parse_opts(opt, "--opt"), target_options=topts, calib=calib, image_size=image_size,
            validate_images=images, threads=threads,
        )
        with _Progress() as progress:
            written = export(request, progress)
    except EdgeExportError as e:
        _fail(e)
    for path in written:
        _print_summary(path)


def _print_summary(path: Path) -> None:
    from edge_export.artifacts import read_manifest

    m = read_manifest(path)
    d, p = m.delegation, m.parity
    parts = [f"[bold]{path}[/]", f"{m.file_bytes / 1e6:.2f} MB", f"export {m.export_seconds:.1f} s"]
    if d:
        parts.append(f"{d.subgraphs} subgraph(s), {d.delegated_nodes} delegated / {d.fallback_nodes} fallback nodes")
    if p:
        parts.append(f"cosine_min {p.cosine_min:.6f}, top-1 {p.top1_agree:.0%}")
    console.print(" | ".join(parts), highlight=False, soft_wrap=True)


@app.command("validate")
def validate_cmd(
    artifact_dir: Path,
    images: int = typer.Option(8, "--images", help="number of real images to compare on"),
    image_dir: Optional[Path] = typer.Option(None, "--image-dir", help="use your own images instead of scikit-image's"),
    threads: int = typer.Option(1, "--threads"),
) -> None:
    """Run the artifact in its runtime and compare with the PyTorch reference; non-zero exit above tolerance."""
    from edge_export.validate import validate_artifact

    try:
        with _Progress() as progress:
            progress(f"validating {artifact_dir}")
            parity = validate_artifact(artifact_dir, images, image_dir, threads)
    except EdgeExportError as e:
        _fail(e)
    table = Table(title=f"parity: {artifact_dir}")
    for col in ("images", "max_abs", "rel_l2", "cosine_min", "cosine_mean", "top-1 agree", "top-5 overlap", "threshold"):
        table.add_column(col)
    table.add_row(
        str(parity.images), f"{parity.max_abs:.3g}", f"{parity.rel_l2:.3g}", f"{parity.cosine_min:.7f}",
        f"{parity.cosine_mean:.7f}", f"{parity.top1_agree:.0%}", f"{parity.top5_overlap:.0%}", str(parity.cosine_threshold),
    )
    console.print(table)
    console.print(f"[green]OK[/] against {parity.reference}", highlight=False)


@app.command("inspect")
def inspect_cmd(
    artifact_dir: Path = typer.Argument(..., help="an artifact dir, or a bare .tflite file"),
    ops: bool = typer.Option(False, "--ops", help="for a .tflite artifact: also the per-op table"),
) -> None:
    """Manifest summary and the delegation table (which ops run in the delegate, which fall back)."""
    from edge_export.report.inspect import inspect_artifact

    try:
        if artifact_dir.is_file() and artifact_dir.suffix == ".tflite":
            from edge_export.runtimes.litert.inspect import inspect_tflite

            console.print(inspect_tflite(artifact_dir).table(), highlight=False)
            return
        inspect_artifact(artifact_dir, console)
        if ops:
            from edge_export.artifacts import read_manifest
            from edge_export.runtimes.litert.inspect import inspect_tflite

            m = read_manifest(artifact_dir)
            if m.program_file.endswith(".tflite"):
                console.print(inspect_tflite(artifact_dir / m.program_file).table(), highlight=False)
    except EdgeExportError as e:
        _fail(e)


@app.command("profile")
def profile_cmd(
    artifact_dir: Path,
    device: str = typer.Option("host", "--device", help="host | adb | adb:SERIAL | adb:all"),
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
) -> None:
    """Per-op latency from real runs, attributed to PyTorch modules; writes the profile JSON.

    On a device (--device adb...) the default output is ARTIFACT_DIR/profile-adb_<serial>.json, one per device.
    """
    from edge_export.profile.dispatch import profile_artifact, profile_devices
    from edge_export.report.terminal import print_profile

    options = {k: str(v) for k, v in (("executor_runner", executor_runner), ("benchmark_model", benchmark_model),
                                      ("kernel_mode", kernel_mode)) if v is not None}
    try:
        with _Progress() as progress:
            progress(f"profiling {artifact_dir} on {device}")
            if numeric_gap:
                from edge_export.profile.numeric_gap import check_supported

                check_supported(artifact_dir, None, device, gap_images)
            if device.startswith("adb"):
                results = profile_devices(artifact_dir, device, runs, warmup, threads, out, progress, adb=adb, options=options)
                failed = [r for r in results if r.error]
                for r in results:
                    if r.profile is not None:
                        print_profile(r.profile, console, top)
                        console.print(f"wrote {r.path}", highlight=False)
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
    except EdgeExportError as e:
        _fail(e)
    print_profile(profile, console, top)
    console.print(f"wrote {path}", highlight=False)


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
        _fail(e)


from edge_export.cli.qnn import qnn_app  # noqa: E402  (experimental host SDK provisioning)

app.add_typer(qnn_app, name="qnn-sdk")

android_app_cli = typer.Typer(help="The Android sample app over adb: deploy an artifact, collect its benchmark results.")
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
        with _Progress() as progress:
            d = deploy(artifact_dir, serial, runs, threads, warmup, adb=adb, apk=apk, image=image, progress=progress)
    except EdgeExportError as e:
        _fail(e)
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
        with _Progress() as progress:
            profile, path = collect(serial, out, adb=adb, artifact_dir=artifact_dir, run_id=run_id, timeout=timeout,
                                    progress=progress)
    except EdgeExportError as e:
        _fail(e)
    print_profile(profile, console)
    console.print(f"wrote {path}", highlight=False)


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
        _fail(e)
    console.print(f"wrote {path}", highlight=False)


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
