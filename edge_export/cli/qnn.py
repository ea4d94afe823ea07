"""`edge-export qnn-sdk ...`: provision and inspect the Qualcomm QNN host SDK. EXPERIMENTAL."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from edge_export.cli.app import QuietTyper, app
from edge_export.cli.common import console, err, fail
from edge_export.errors import EdgeExportError

qnn_app = QuietTyper(
    add_completion=False,
    no_args_is_help=True,
    help="[EXPERIMENTAL] Qualcomm QNN host SDK for the qnn-fp16/qnn-int8 targets: QAIRT host libraries from PyPI's "
    "onnxruntime-qnn wheel plus a small compatibility library built here; runs on QNN's x86 HTP simulator.",
)
@qnn_app.command("setup")
def setup_cmd(
    dir: Optional[Path] = typer.Option(
        None, "--dir", help="where to provision (default $EDGE_EXPORT_QNN_HOME or ~/.cache/edge-export/qnn-sdk)"
    ),
    force: bool = typer.Option(False, "--force", help="provision again even if the directory is complete"),
    wheel: Optional[Path] = typer.Option(None, "--wheel", help="a downloaded onnxruntime-qnn wheel (no pip download)"),
) -> None:
    """[EXPERIMENTAL] Provision the QNN host SDK: pip-download onnxruntime-qnn, extract its QAIRT x86-64 host
    libraries, build and self-test the HTP device-config compat library with this machine's C compiler.

    Qualcomm's libraries stay in that directory under Qualcomm's licence; nothing is added to the project.
    Point QNN_SDK_ROOT at a real QAIRT install instead if you have one (it takes precedence).
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from edge_export.runtimes.qnn.provision import setup_host_sdk

    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                      transient=True, redirect_stdout=False, redirect_stderr=False) as progress:
            task = progress.add_task("provisioning the QNN host SDK", total=None)

            def say(msg: str) -> None:
                progress.console.print(f"[dim]{msg}[/]", highlight=False)
                progress.update(task, description=msg)

            sdk = setup_host_sdk(dir, progress=say, wheel=wheel, force=force)
    except EdgeExportError as e:
        fail(e)
    err.print(f"[green]OK[/] {sdk.describe()}", highlight=False)
    err.print(
        "[yellow]experimental:[/] host-simulator path; set QNN_SDK_ROOT to a QAIRT install to use Qualcomm's own SDK",
        highlight=False,
    )
    for w in sdk.warnings:
        err.print(f"[yellow]note:[/] {w}", highlight=False)
    console.out(str(sdk.root), highlight=False)  # the only stdout line: QNN_SDK_ROOT=$(edge-export qnn-sdk setup) works


@qnn_app.command("info")
def info_cmd(
    qnn_sdk: Optional[Path] = typer.Option(None, "--qnn-sdk", help="check this QAIRT root (else QNN_SDK_ROOT, else the provisioned one)"),
) -> None:
    """[EXPERIMENTAL] Which QNN SDK the qnn-* targets would use, and the chipsets (--soc) they accept."""
    from edge_export.runtimes.qnn import find_qnn_sdk
    from edge_export.runtimes.qnn.lowering import list_chipsets

    try:
        sdk = find_qnn_sdk(qnn_sdk)
    except EdgeExportError as e:
        fail(e)
    console.print(sdk.describe(), highlight=False)
    for w in sdk.warnings:
        console.print(f"[yellow]note:[/] {w}", highlight=False)
    by_arch: dict[str, list[str]] = {}
    for chip, arch in list_chipsets().items():
        by_arch.setdefault(arch, []).append(chip)
    table = Table(title="--soc choices (QcomChipset)")
    table.add_column("HTP arch")
    table.add_column("chipsets")
    for arch in sorted(by_arch, key=lambda a: (len(a), a)):
        table.add_row(arch, ", ".join(sorted(by_arch[arch])))
    console.print(table)


app.add_typer(qnn_app, name="qnn-sdk")
