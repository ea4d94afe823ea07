"""The coverage matrix's "Arm kernels (emulated)" column: every .tflite cell that exported and validated is run on
one emulated Arm CPU (validate --arch arm64: LiteRT's aarch64 build under QEMU) with as many images as its host
validation. The numbers say whether the Arm kernels compute what PyTorch and the host's x86 kernels compute; the
emulated times are relative cost only and are not kept here (the cell's ms are the host's).

An Arm result never fails a host cell: a missed bar or a guest crash is kept in the cell's `arm` record, and a
runtime that is not set up gives the column one status for the whole run (the run goes on without it)."""

from __future__ import annotations

from typing import Callable

from edge_export.errors import EdgeExportError, ValidationFailed, first_line

NOT_SET_UP = "not set up (run `edge-export arm setup`)"
SKIPPED = "skipped (--no-arm)"


def arm_column(cpu: str | None) -> dict:
    """The column's status for this run, decided once before any export: {"cpu", "status", "error"?}."""
    if cpu is None:
        return {"cpu": None, "status": SKIPPED}
    from edge_export.arm import get_cpu, load_env

    model = get_cpu(cpu)  # an unknown --arm-cpu is bad input, raised before any work
    try:
        env = load_env()
    except EdgeExportError as e:
        return {"cpu": model.name, "feature_level": model.level, "status": NOT_SET_UP, "error": str(e)}
    model = get_cpu(cpu, env)  # the level as this runtime has it (the SME level: by setup's check)
    return {"cpu": model.name, "feature_level": model.level, "status": "ran"}


def is_tflite(cell) -> bool:
    return bool(cell.ok and cell.artifact and cell.program_file and cell.program_file.endswith(".tflite"))


def run_arm(cells: list, column: dict, progress: Callable[[str], None] = lambda m: None) -> None:
    """Fill cell.arm for the row's .tflite cells when the column runs."""
    if column["status"] != "ran":
        return
    for cell in filter(is_tflite, cells):
        cell.arm = arm_record(cell, column["cpu"])
        a = cell.arm
        progress(f"{cell.model} {cell.target} on Arm kernels ({column['cpu']}): "
                 + (f"cosine {a['cosine_min']:.5f}, {'pass' if a['passed'] else 'below the bar'}" if "error" not in a
                    else f"failed: {a['error']}"))


def arm_record(cell, cpu: str) -> dict:
    """validate_on_arm on the cell's artifact (its manifest gains arm_parity[cpu]), as the cell's arm fields."""
    from edge_export.arm.validate import validate_on_arm
    from edge_export.artifacts import read_manifest

    try:
        parity = validate_on_arm(cell.artifact, "arm64", cpu, images=cell.parity_images or 8)
    except ValidationFailed:  # below the bar: the numbers were written before the raise
        parity = read_manifest(cell.artifact).arm_parity[cpu]
    except EdgeExportError as e:  # a guest crash, a broken runtime: this cell's Arm column only
        return {"cpu": cpu, "passed": False, "error": " ".join(str(e).split())}
    except Exception as e:  # noqa: BLE001 - an hour-long matrix goes on; the cell keeps the one line
        return {"cpu": cpu, "passed": False, "error": f"{type(e).__name__}: {first_line(e)}"}
    return {
        "cpu": parity.cpu, "feature_level": parity.feature_level, "reliable": parity.reliable,
        "images": parity.images, "cosine_min": parity.cosine_min, "top1_agree": parity.top1_agree,
        "vs_host": {k: parity.vs_host[k] for k in ("cosine_min", "top1_agree")} if parity.vs_host else None,
        "cosine_threshold": parity.cosine_threshold, "passed": parity.passed,
    }


def arm_text(cell: dict, column: dict | None) -> str:
    """One markdown/dashboard cell of the column."""
    if column is None:  # a coverage.json written before the column existed
        return "–"
    if not (cell["ok"] and (cell.get("program_file") or "").endswith(".tflite")):
        return "–"
    if column["status"] != "ran":
        return column["status"]
    a = cell.get("arm")
    if not a:
        return "not run"
    if "error" in a:
        return "**failed**: " + a["error"].replace("|", "/")  # a table cell
    verdict = "pass" if a["passed"] else "**below the bar**"
    if not a.get("reliable", True):
        verdict += " (unreliable level)"
    vs = a.get("vs_host") or {}
    host = f"; vs host kernels cosine {vs['cosine_min']:.5f}, top-1 {vs['top1_agree']:.0%}" if vs else ""
    return f"cosine {a['cosine_min']:.5f}, top-1 {a['top1_agree']:.0%}{host}: {verdict}"
