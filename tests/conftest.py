"""Shared fixtures: artifacts are exported once per session and reused by every test that reads them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("USE_TF", "0")
sys.path.insert(0, str(Path(__file__).parent))  # tests.helpers importable as `helpers`

TINY = "swiftformer-test"
TINY_OPTS = {"layer_scale_init_value": 1.0}


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory) -> dict[str, Path]:
    """swiftformer-test (64 px) exported to both XNNPACK targets, validated on 8 photographs."""
    from edge_export.export import ExportRequest, export

    out = tmp_path_factory.mktemp("tiny-artifacts")
    paths = export(
        ExportRequest(
            model=TINY, targets=["xnnpack-fp32", "xnnpack-int8"], out_dir=out, model_options=dict(TINY_OPTS),
            calib=8, target_options={"observer": "minmax"},
        )
    )
    return {p.name.removeprefix(f"{TINY}-"): p for p in paths}


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 900):
    """The real console script in a subprocess: exit code, stdout, stderr."""
    import subprocess

    exe = Path(sys.executable).parent / "edge-export"
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"})
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def cli():
    return run_cli
