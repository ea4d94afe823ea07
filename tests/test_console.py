"""What reaches the terminal: our lines only. The libraries' output (torchao, torch's pytree warnings,
ExecuTorch's cpuinfo complaints, absl/TensorFlow) goes to export.log in each artifact dir; -v streams it."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

TESTS = Path(__file__).parent
EXE = Path(sys.executable).parent / "edge-export"
MODEL = "module:helpers:tiny_cnn"
NAME = "module_helpers_tiny_cnn"
# Lines the pinned libraries print during an int8 export (issue 15 lists them from a real `make run`).
THIRD_PARTY = ("Failed to load", "FutureWarning", "cpuinfo", "I0000", "INFO: Created TensorFlow Lite", "absl::")


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(TESTS), "COLUMNS": "160", "XDG_CACHE_HOME": str(tmp_path / "cache")}


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """stderr on a pseudo-terminal (rich draws live rows there), stdout on a pipe; colours stripped."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([str(EXE), *args], stdout=subprocess.PIPE, stderr=follower, text=True, env=env)
    os.close(follower)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stdout = proc.stdout.read()
    code = proc.wait(timeout=600)
    reader.join(timeout=10)
    os.close(leader)
    return code, stdout, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))


def test_export_terminal_holds_our_lines_and_the_log_holds_the_libraries(tmp_path):
    out = tmp_path / "out"
    code, stdout, terminal = _run_on_a_terminal(
        ["export", MODEL, "-t", "xnnpack-int8", "-t", "tflite-fp32", "--calib", "8", "--images", "2", "--out", str(out)],
        _env(tmp_path))
    assert code == 0, terminal
    shown = stdout + terminal
    assert not [m for m in THIRD_PARTY if m in shown], shown
    arts = [out / f"{NAME}-{t}" for t in ("xnnpack-int8", "tflite-fp32")]
    logs = [(a / "export.log").read_text() for a in arts]
    assert logs[0] == logs[1]  # one log per command, copied into each artifact it wrote
    assert [m for m in THIRD_PARTY if m in logs[0]], logs[0][:2000]  # the noise was there, and went to the log
    assert "library output: " in terminal and f"{arts[0].name}/export.log" in terminal
    for target in ("xnnpack-int8", "tflite-fp32"):
        assert f"✓ {target}" in terminal  # each finished target leaves one line with its time
        assert any(line.startswith(f"│ {target}") for line in stdout.splitlines()), stdout  # the summary table
    assert not (tmp_path / "cache").exists()  # the log went to the artifacts, not the fallback


def test_verbose_streams_library_output_and_writes_no_log(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([str(EXE), "-v", "export", MODEL, "-t", "xnnpack-int8", "--calib", "8", "--images", "2",
                           "--out", str(out)], capture_output=True, text=True, env=_env(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert [m for m in THIRD_PARTY if m in proc.stdout + proc.stderr]
    assert not (out / f"{NAME}-xnnpack-int8" / "export.log").exists()
    assert "library output" not in proc.stderr


def test_failures_reach_the_terminal_and_a_failed_exports_log_is_kept_aside(tmp_path):
    def run(*args):
        return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=_env(tmp_path), timeout=600)

    usage = run("export", MODEL, "-t", "xnnpack-int8", "--float-modules", "x")
    assert usage.returncode == 2 and "No such option: --float-modules" in usage.stderr  # parsed before the switch
    assert "--target-opt" in run("export", "--help").stdout
    out = tmp_path / "out"
    bad = run("export", MODEL, "-t", "xnnpack-int8", "--target-opt", "float_modules=nope", "--out", str(out))
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert bad.returncode == 2 and len(errors) == 1 and "'nope'" in errors[0], bad.stderr
    # Refused after the converter ran (tiny_cnn's module "1" is a ReLU with no op of its own in the .tflite):
    # the libraries' output of a run that wrote no artifact goes to the cache, named on the terminal.
    late = run("export", MODEL, "-t", "tflite-int8", "--target-opt", "float_modules=1", "--calib", "8", "--out", str(out))
    errors = [line for line in late.stderr.splitlines() if line.startswith("error:")]
    assert late.returncode == 2 and len(errors) == 1 and "no op of the converted model belongs to 1" in errors[0]
    assert not [m for m in THIRD_PARTY if m in bad.stdout + bad.stderr + late.stdout + late.stderr], late.stderr
    fallback = tmp_path / "cache" / "edge-export" / "last.log"
    assert f"library output: {fallback}" in late.stderr and fallback.stat().st_size > 0
    assert not out.exists() or not any(out.iterdir())  # nothing half-written
