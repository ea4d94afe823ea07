"""What a user sees of an export besides the artifact: readable files, refused image sizes, clean
interruption (SIGINT/SIGTERM exit codes, no staging dir left) and stale staging dirs of killed exports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
EXE = Path(sys.executable).parent / "edge-export"
MODEL = "module:helpers:tiny_cnn"
NAME = "module_helpers_tiny_cnn"


def _run(*args, umask: int = 0o022, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "COLUMNS": "200"}
    return subprocess.Popen([str(EXE), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: os.umask(umask), start_new_session=True, **kw)


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_artifacts_readable_and_stale_staging_dirs_removed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = "xnnpack-fp32"
    art = f"{NAME}-{target}"
    dead = out / f".{art}.pid{_dead_pid()}.k1ll3d.partial"  # a SIGKILLed export's staging dir
    legacy = out / f".{art}.abc123.partial"  # staging dir named before the owner pid was in its name
    live = out / f".{art}.pid{os.getpid()}.running.partial"  # another export of it, still running
    other = out / f".{art}-recipe.pid{_dead_pid()}.x.partial"  # another artifact's: not this export's business
    for d in (dead, legacy, live, other):
        d.mkdir()
        (d / "model.pte").write_bytes(b"half")
    proc = _run("export", MODEL, "-t", target, "--images", "2", "--out", str(out))
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert not dead.exists() and not legacy.exists() and live.exists() and other.exists()
    modes = {p.relative_to(out).as_posix(): p.stat().st_mode & 0o777 for p in [out / art, *(out / art).rglob("*")]}
    assert modes[art] == 0o755 and len(modes) >= 3, modes
    assert all(m == (0o755 if (out / p).is_dir() else 0o644) for p, m in modes.items()), modes
    # the umask is respected, not overridden
    proc = _run("export", MODEL, "-t", target, "--images", "0", "--out", str(tmp_path / "private"), umask=0o077)
    assert proc.wait(timeout=600) == 0
    assert (tmp_path / "private" / art).stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o077 == 0 for p in (tmp_path / "private" / art).rglob("*"))


@pytest.mark.parametrize("args, expect", [
    (["--image-size", "0"], "--image-size 0: give the input side in pixels"),
    (["--image-size", "-3"], "--image-size -3: give the input side in pixels"),
    (["--model", "swiftformer-test", "--image-size", "7"],
     "image size 7: swiftformer-test takes input sides of at least 32 px and a multiple of 32; try --image-size 32"),
    (["--model", "swiftformer-test", "--image-size", "100"], "a multiple of 32; try --image-size 128"),
    (["--model", "swiftformer-test", "--opt", "image_size=48"], "image size 48"),
])
def test_image_size_is_checked(tmp_path, args, expect):
    model = MODEL
    if args[0] == "--model":
        model, args = args[1], args[2:]
    proc = _run("export", model, *args, "-t", "xnnpack-fp32", "--images", "0", "--out", str(tmp_path / "out"))
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and expect in errors[0], stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _wait_for_staging(out: Path, proc: subprocess.Popen, timeout: float = 300) -> list[Path]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = list(out.glob(".*.partial")) if out.exists() else []
        if found:
            return found
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the export never started staging")


@pytest.mark.parametrize("how, code", [("SIGINT", 130), ("SIGTERM", 143)])
@pytest.mark.parametrize("after", [0.0, 2.0], ids=["at-staging", "later"])
def test_interrupted_export_exits_with_the_signal_code_and_leaves_nothing(tmp_path, how, code, after):
    """Ctrl-C reaches the whole process group (the export and its forked workers); SIGTERM only the
    export itself, which stops its workers. Either way no staging dir and no artifact remain."""
    out = tmp_path / "out"
    # two work groups: exported side by side in forked workers on a 2-core machine
    proc = _run("export", MODEL, "-t", "xnnpack-fp32", "-t", "tflite-fp32", "--images", "0", "--out", str(out))
    _wait_for_staging(out, proc)
    time.sleep(after)  # at once, or in the middle of lowering / conversion
    if how == "SIGINT":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert f"interrupted by {how}" in stderr
    assert "Traceback" not in stderr, stderr
    time.sleep(0.5)  # workers exit after the parent reports
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left == [], left
