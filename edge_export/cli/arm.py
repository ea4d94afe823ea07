"""`edge-export arm setup|cpus|run`: the aarch64 runtime under QEMU (Arm kernels before a phone)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from edge_export.cli.app import QuietTyper, app
from edge_export.cli.common import console, err, fail
from edge_export.errors import EdgeExportError

arm_app = QuietTyper(
    add_completion=False, no_args_is_help=True,
    help="Arm kernels under QEMU: LiteRT's aarch64 build in Debian's arm64 Python, per emulated CPU level. "
    "Times are emulation times (relative cost only), never device latency.",
)
app.add_typer(arm_app, name="arm")


@arm_app.command("setup")
def setup_cmd(
    dir: Optional[Path] = typer.Option(None, "--dir", help="where (default $EDGE_EXPORT_ARM_HOME or "
                                       "~/.cache/edge-export/arm64)"),
    force: bool = typer.Option(False, "--force", help="provision again even if the folder is complete"),
) -> None:
    """Provision the aarch64 runtime: Debian trixie's QEMU (qemu-user 10.0) and bookworm's arm64 python3.11 (private
    apt states, no root), PyPI's aarch64 ai-edge-litert (the host's version) and numpy. A no-op when it is there and
    current."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from edge_export.arm.provision import setup

    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                      transient=True, redirect_stdout=False, redirect_stderr=False) as progress:
            task = progress.add_task("provisioning the aarch64 runtime", total=None)

            def say(msg: str) -> None:
                if not msg.startswith(("unpacking", "probing")):  # the per-item steps only move the spinner
                    progress.console.print(f"[dim]{msg}[/]", highlight=False, soft_wrap=True)
                progress.update(task, description=msg)

            env = setup(dir, progress=say, force=force)
    except EdgeExportError as e:
        fail(e)
    err.print(f"[green]OK[/] {env.describe()}", highlight=False, soft_wrap=True)
    console.out(str(env.root), highlight=False)  # the only stdout line: EDGE_EXPORT_ARM_HOME=$(edge-export arm setup)


@arm_app.command("cpus")
def cpus_cmd() -> None:
    """The --cpu choices, their feature levels, and (once set up) the hwcaps each exposes to the guest."""
    import json

    from edge_export.arm.cpus import CPUS, LEVEL_NOTES, get_cpu
    from edge_export.arm.provision import STAMP, default_home, load_env

    try:
        recorded = json.loads((default_home() / STAMP).read_text()).get("cpus", {})
    except (OSError, ValueError):
        recorded = {}
    table = Table(title="--cpu choices (QEMU -cpu); hwcaps as recorded by `edge-export arm setup`")
    for col in ("--cpu", "QEMU -cpu", "feature level", "hwcaps XNNPACK dispatches on", "note"):
        table.add_column(col)
    key = ("asimddp", "fphp", "i8mm", "bf16", "sve", "sve2", "sme")
    try:
        env = load_env()
    except EdgeExportError:
        env = None  # the static notes: SME unreliable until setup has checked this QEMU
    for name in CPUS:
        cpu = get_cpu(name, env) if env is not None else CPUS[name]
        rec = recorded.get(name, {})
        feats = rec.get("error") or " ".join(f for f in rec.get("features", []) if f in key) or "[dim]not set up[/]"
        note = f"[yellow]{cpu.note}[/]" if cpu.note else LEVEL_NOTES[cpu.level]
        table.add_row(name, cpu.qemu_cpu, cpu.level, feats, note)
    console.print(table)


@arm_app.command("run")
def run_cmd(
    model: Path = typer.Argument(..., help="a .tflite file"),
    cpu: str = typer.Option("cortex-a76", "--cpu", help="see `edge-export arm cpus`"),
    threads: int = typer.Option(1, "--threads", min=1),
    repeats: int = typer.Option(1, "--repeats", min=1, help="invocations (emulated times: relative cost only)"),
    kernels: str = typer.Option("xnnpack", "--kernels", help="xnnpack (LiteRT's default) or builtin (no delegate)"),
    seed: int = typer.Option(0, "--seed", help="seed of the random inputs"),
) -> None:
    """Smoke check: MODEL on the emulated Arm CPU and on this host with the same seeded random inputs; prints the
    parity per output and the emulated time. Exit 2 on bad input or a guest crash."""
    from edge_export.arm import get_cpu, load_env, run_tflite
    from edge_export.arm.smoke import parity, random_inputs, run_host

    try:
        get_cpu(cpu)
        if not model.is_file():
            raise EdgeExportError(f"{model} does not exist: pass a .tflite file")
        env = load_env()
        inputs = random_inputs(model, seed)
        arm = run_tflite(env, model, inputs, cpu=cpu, threads=threads, kernels=kernels, repeats=repeats)
        host = run_host(model, inputs, threads)
    except EdgeExportError as e:
        fail(e)
    except ValueError as e:  # LiteRT on the host refusing the file
        fail(EdgeExportError(f"{model}: {str(e).splitlines()[0][:200]}: pass a valid .tflite file"))
    level = arm.level + ("" if arm.reliable else " [yellow](unreliable)[/]")
    console.print(f"{model.name} on -cpu {arm.qemu_cpu}: {level}; {arm.kernels} "
                  f"({arm.delegate_partitions} partitions), {threads} thread(s)", highlight=False, soft_wrap=True)
    for i, (a, h) in enumerate(zip(arm.outputs, host)):
        p = parity(a, h)
        console.print(f"  output {i}: cosine {p['cosine']:.6f} vs this host, max |diff| {p['max_abs']:.3g}, "
                      f"argmax {'same' if p['argmax_match'] else '[red]differs[/]'}", highlight=False)
    t = arm.timings
    console.print(f"  invoke {t['median_s'] * 1e3:.1f} ms median of {len(t['invoke_s'])} ({t['label']}; "
                  f"{t['emulator']})", highlight=False, soft_wrap=True)
    if arm.note:
        console.print(f"[yellow]note:[/] {arm.note}", highlight=False, soft_wrap=True)
