"""Reading an artifact's eval.json back: what `compare` and the dashboard show beside latency and size."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edge_export.errors import EdgeExportError

EVAL_SCHEMA = "edge-export-eval/1"
EVAL_NAME = "eval.json"


@dataclass(frozen=True)
class Evaluation:
    """One artifact's accuracy on a labelled folder, and its PyTorch reference's on the same images."""

    path: Path
    model_id: str
    target: str
    artifact_sha256: str
    top1: float
    top5: float | None
    reference_top1: float
    images: int
    data_root: str
    data_sha256: str
    agreement_top1: float  # share of images where the artifact's top-1 is PyTorch's
    measured_at: str

    @property
    def drop(self) -> float:
        """Top-1 lost against the PyTorch reference, in points (negative: the artifact scored higher)."""
        return 100.0 * (self.reference_top1 - self.top1)

    def stale_for(self, artifact_sha256: str) -> bool:
        return self.artifact_sha256 != artifact_sha256


def read_evaluation(artifact_dir: Path) -> Evaluation | None:
    """The eval.json in `artifact_dir`, or None when the artifact was never evaluated."""
    path = Path(artifact_dir) / EVAL_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("schema") != EVAL_SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r} is not {EVAL_SCHEMA}")
        art, ref = data["artifact"], data["reference"]
        return Evaluation(
            path=path, model_id=data["model_id"], target=data["target"], artifact_sha256=data["artifact_sha256"],
            top1=float(art["top1"]), top5=art.get("top5"), reference_top1=float(ref["top1"]),
            images=int(data["data"]["images"]), data_root=data["data"]["root"],
            data_sha256=data["data"]["files_sha256"], agreement_top1=float(data["agreement"]["top1_agree"]),
            measured_at=data["measured_at"],
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise EdgeExportError(f"{path} is not an eval.json this edge-export reads ({e}): "
                              f"re-run `edge-export evaluate {Path(artifact_dir)} --data DIR`") from None
