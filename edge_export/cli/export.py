"""`edge-export export`, `validate`, `inspect`: artifacts made, checked in their runtime, and described."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from edge_export.cli.app import app
from edge_export.cli.common import Progress, console, fail, parse_opts
from edge_export.cli.output import keep_log_in
from edge_export.errors import EdgeExportError


@app.command("export")
def export_cmd(
    model: str = typer.Argument(..., help="zoo id (see `edge-export models`), hf:<folder>, hf:<model_type>, "
                                         "module:<path>:<callable> or timm:<name>"),
    target: List[str] = typer.Option(..., "--target", "-t", help="target name; repeat for several"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="original .pth or transformers folder"),
    out: Path = typer.Option(Path("artifacts"), "--out", "-o", help="parent dir for artifact dirs"),
    calib: int = typer.Option(32, "--calib", help="calibration images for int8 targets"),
    calib_dir: Optional[Path] = typer.Option(None, "--calib-dir", help="calibrate int8 targets on your images (any "
                                             "depth; png/jpg/bmp/webp); --calib N of them, seeded"),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="input resolution (default: the model's)"),
    seed: int = typer.Option(0, "--seed", help="seed for random init and calibration crops"),
    opt: Optional[List[str]] = typer.Option(None, "--opt", help="model option KEY=VALUE, e.g. layer_scale_init_value=1.0"),
    target_opt: Optional[List[str]] = typer.Option(None, "--target-opt", help="target option KEY=VALUE"),
    layout: Optional[str] = typer.Option(None, "--layout", help="nchw|nhwc for targets that offer a layout choice"),
    soc: Optional[str] = typer.Option(None, "--soc", help="Qualcomm chipset for qnn-* targets (default SM8650)"),
    qnn_sdk: Optional[Path] = typer.Option(None, "--qnn-sdk", help="QAIRT root for qnn-* targets (else QNN_SDK_ROOT)"),
    images: int = typer.Option(8, "--images", help="images to validate each artifact on (0 = skip)"),
    threads: int = typer.Option(1, "--threads", help="runtime threads for validation"),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="targets exported side by side (default: one per core)"),
) -> None:
    """Export MODEL to each --target; every artifact is validated before it is written."""
    from edge_export.export import ExportRequest, export_outcomes

    try:
        topts = parse_opts(target_opt, "--target-opt")
        for key, value in (("layout", layout), ("soc", soc), ("qnn_sdk", qnn_sdk)):
            if value is not None:
                topts[key] = str(value)
        request = ExportRequest(
            model=model, targets=list(target), out_dir=out, checkpoint=checkpoint, seed=seed,
            model_options=parse_opts(opt, "--opt"), target_options=topts, calib=calib, calib_dir=calib_dir, image_size=image_size,
            validate_images=images, threads=threads, jobs=jobs,
        )
        with Progress() as progress:
            outcomes = export_outcomes(request, progress)
    except EdgeExportError as e:
        fail(e)
    written = [o.path for o in outcomes if o.path is not None]
    for path in written:
        keep_log_in(path, "export.log")
    if written:
        console.print(_summary(written))
        folders = sorted({str(path.parent) for path in written})
        console.print(f"written to {', '.join(folders)}: " + " ".join(path.name for path in written), highlight=False,
                      soft_wrap=True)
    errors = [o.error for o in outcomes if o.error is not None]
    if errors:
        fail(*errors)


def _summary(paths: list[Path]) -> Table:
    """One row per artifact written: what a user checks before shipping it (delegation, what fell back or stayed
    float, parity)."""
    from edge_export.artifacts import read_manifest

    table = Table(title="artifacts written", title_justify="left")
    for col, justify in (("target", "left"), ("MB", "right"), ("export", "right"), ("delegated nodes", "left"),
                         ("fallback / float", "left"), ("cos min", "right"), ("top-1", "right")):
        table.add_column(col, justify=justify, no_wrap=col in ("target", "cos min"))
    for path in paths:
        m = read_manifest(path)
        d, p = m.delegation, m.parity
        delegation = (f"{d.delegated_nodes}/{d.delegated_nodes + d.fallback_nodes} in {d.subgraphs} "
                      f"subgraph{'s' if d.subgraphs != 1 else ''}") if d else "-"
        left = [f"{op}×{n}" for op, n in sorted((d.fallback_ops if d else {}).items(), key=lambda kv: -kv[1])]
        float_modules = m.target_options.get("float_modules") if isinstance(m.target_options, dict) else None
        if float_modules:
            left.append(f"float: {','.join(float_modules) if isinstance(float_modules, list) else float_modules}")
        table.add_row(m.target, f"{m.file_bytes / 1e6:.2f}", f"{m.export_seconds:.0f} s", delegation,
                      "[yellow]" + " ".join(left) + "[/]" if left else "none",
                      f"{p.cosine_min:.6f}" if p else "-", f"{p.top1_agree:.0%}" if p else "-")
    return table


@app.command("validate")
def validate_cmd(
    artifact_dir: Path,
    images: int = typer.Option(8, "--images", help="number of real images to compare on"),
    image_dir: Optional[Path] = typer.Option(None, "--image-dir", help="use your own images instead of scikit-image's"),
    threads: int = typer.Option(1, "--threads"),
    arch: Optional[str] = typer.Option(None, "--arch", help="arm64: run on Arm kernels (LiteRT's aarch64 build under "
                                       "QEMU; .tflite artifacts; `edge-export arm setup` first)"),
    cpu: Optional[str] = typer.Option(None, "--cpu", help="with --arch arm64: the emulated CPU (default cortex-a76; "
                                      "see `edge-export arm cpus`)"),
) -> None:
    """Run the artifact in its runtime and compare with the PyTorch reference; non-zero exit above tolerance.

    With --arch arm64 the artifact runs on Arm kernels under QEMU with the same images and bar; the result is kept
    in the manifest's arm_parity beside the host's parity."""
    from edge_export.arm.cpus import DEFAULT_CPU
    from edge_export.validate import validate_artifact

    try:
        with Progress() as progress:
            where = f" on Arm kernels ({cpu or DEFAULT_CPU} under QEMU)" if arch == "arm64" else ""
            progress(f"validating {artifact_dir}{where}")
            parity = validate_artifact(artifact_dir, images, image_dir, threads, arch=arch, cpu=cpu)
    except EdgeExportError as e:
        fail(e)
    arm = getattr(parity, "arch", None) == "arm64"
    title = f"parity on Arm kernels ({parity.cpu}, QEMU -cpu {parity.qemu_cpu}): {artifact_dir}" if arm else \
        f"parity: {artifact_dir}"
    table = Table(title=title)
    for col in ("images", "max_abs", "rel_l2", "cosine_min", "cosine_mean", "top-1 agree", "top-5 overlap", "threshold"):
        table.add_column(col)
    table.add_row(
        str(parity.images), f"{parity.max_abs:.3g}", f"{parity.rel_l2:.3g}", f"{parity.cosine_min:.7f}",
        f"{parity.cosine_mean:.7f}", f"{parity.top1_agree:.0%}", f"{parity.top5_overlap:.0%}", str(parity.cosine_threshold),
    )
    console.print(table)
    if arm:
        _print_arm(parity)
        if not parity.passed:  # only an unreliable level gets here below the bar
            console.print(f"[yellow]BELOW THE BAR on an unreliable level, not failed:[/] {parity.note}",
                          highlight=False, soft_wrap=True)
            return
    console.print(f"[green]OK[/] against {parity.reference}", highlight=False)


def _print_arm(p) -> None:
    level = p.feature_level + ("" if p.reliable else " [yellow](UNRELIABLE level: reported, not held to the bar)[/]")
    console.print(f"Arm: {p.cpu} {level}; {p.kernels} ({p.delegate_partitions} partitions), {p.threads} thread(s); "
                  f"QEMU {p.versions.get('qemu', '?')}, ai-edge-litert {p.versions.get('ai-edge-litert', '?')}",
                  highlight=False, soft_wrap=True)
    if p.vs_host:
        console.print(f"Arm vs this host's kernels (same file): cosine_min {p.vs_host['cosine_min']:.7f}, max_abs "
                      f"{p.vs_host['max_abs']:.3g}, top-1 agree {p.vs_host['top1_agree']:.0%}", highlight=False,
                      soft_wrap=True)
    console.print(f"invoke {p.emulated_invoke_ms:.1f} ms median per image (emulated: relative cost only, not device "
                  "latency)", highlight=False, soft_wrap=True)


@app.command("inspect")
def inspect_cmd(
    artifact_dir: Path = typer.Argument(..., help="an artifact dir, or a bare .tflite file"),
    ops: bool = typer.Option(False, "--ops", help="for a .tflite artifact: also the per-op table"),
    as_json: bool = typer.Option(False, "--json", help="for a bare .tflite: its op table as JSON"),
) -> None:
    """Manifest summary and the delegation table (which ops run in the delegate, which fall back)."""
    from edge_export.report.inspect import inspect_artifact

    try:
        if artifact_dir.is_file() and artifact_dir.suffix == ".tflite":
            import json

            from edge_export.runtimes.litert.inspect import inspect_tflite

            info = inspect_tflite(artifact_dir)
            if as_json:
                console.out(json.dumps(info.to_json(), indent=1), highlight=False)  # fd 1 may be the log (cli/output.py)
            else:
                console.print(info.table(), highlight=False)
            return
        inspect_artifact(artifact_dir, console)
        if ops:
            from edge_export.artifacts import read_manifest
            from edge_export.runtimes.litert.inspect import inspect_tflite

            m = read_manifest(artifact_dir)
            if m.program_file.endswith(".tflite"):
                console.print(inspect_tflite(artifact_dir / m.program_file).table(), highlight=False)
    except EdgeExportError as e:
        fail(e)
