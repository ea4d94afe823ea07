"""Run an artifact in its real runtime on real photographs and compare with the PyTorch reference."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from edge_export.artifacts import Manifest, Parity, read_manifest, write_manifest
from edge_export.errors import ValidationFailed
from edge_export.images import validation_batch
from edge_export.models.loaded import LoadedModel


def compare_logits(ref: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Per-image agreement of two [N, C] logit arrays."""
    ref = ref.astype(np.float64)
    got = got.astype(np.float64)
    diff = got - ref
    cos = (ref * got).sum(1) / np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1), 1e-30)
    k = min(5, ref.shape[1])
    top_ref = np.argsort(-ref, axis=1)[:, :k]
    top_got = np.argsort(-got, axis=1)[:, :k]
    overlap = [len(set(a) & set(b)) / k for a, b in zip(top_ref, top_got)]
    return {
        "max_abs": float(np.abs(diff).max()),
        "rel_l2": float(np.linalg.norm(diff) / max(np.linalg.norm(ref), 1e-30)),
        "cosine_min": float(cos.min()),
        "cosine_mean": float(cos.mean()),
        "top1_agree": float((top_ref[:, 0] == top_got[:, 0]).mean()),
        "top5_overlap": float(np.mean(overlap)),
    }


def constant_reference(ref: np.ndarray) -> str | None:
    """Why [N, C] reference logits are useless to compare against (zero, or the same for every image), else None."""
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    spread = float(np.ptp(ref, axis=0).max()) if len(ref) > 1 else float(np.ptp(ref))
    if scale < 1e-12 or spread <= 1e-6 * scale:
        return f"max |logit| {scale:.3g}, largest change across images {spread:.3g}"
    return None


def _refuse_constant(reference: LoadedModel, ref: np.ndarray) -> None:
    degenerate = constant_reference(ref)
    if degenerate:
        raise ValidationFailed(
            f"{reference.model_id}: the PyTorch reference gives the same logits for every image ({degenerate}), so there "
            "is nothing to compare an artifact with: give trained weights (--checkpoint), or a random init that does not "
            "collapse (hf: sources get one)"
        )


def reference_logits(reference: LoadedModel, images: int, image_dir: Path | None = None) -> np.ndarray:
    """The reference's logits on the validation images; ValidationFailed (one line) when they do not vary."""
    _, batch = validation_batch(reference.preprocessing, images, image_dir)
    with torch.no_grad():
        ref = reference.logits(batch).numpy()
    _refuse_constant(reference, ref)
    return ref


def parity_inputs(manifest: Manifest, reference: LoadedModel, images: int, image_dir: Path | None = None,
                  ref: np.ndarray | None = None) -> tuple[list[str], torch.Tensor, np.ndarray]:
    """(image names, the preprocessed NCHW batch, the reference's logits on it): what every parity measurement
    (host, Arm under QEMU) compares on. ValidationFailed when the reference's logits do not vary."""
    names, batch = validation_batch(manifest.preprocessing, images, image_dir)
    if ref is None:
        with torch.no_grad():
            ref = reference.logits(batch).numpy()
    _refuse_constant(reference, ref)
    return names, batch, ref


def parity_fields(reference: LoadedModel, ref: np.ndarray, got: np.ndarray, image_dir: Path | None, threads: int,
                  cosine_threshold: float | None) -> dict:
    """The Parity fields of `got` (the artifact's logits) against `ref` (the reference's) on these images."""
    metrics = compare_logits(ref, got)
    return dict(
        images=len(ref),
        image_source=str(image_dir) if image_dir else "scikit-image sample photographs (centre crops)",
        threads=threads,
        reference=f"PyTorch eager {reference.model_id} ({reference.source.kind}"
        + (f", {reference.source.attention_form} attention" if reference.source.attention_form else "")
        + ")",
        cosine_threshold=cosine_threshold,
        passed=cosine_threshold is None or metrics["cosine_min"] >= cosine_threshold,
        measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **metrics,
    )


def measure_parity(
    artifact_dir: Path,
    manifest: Manifest,
    reference: LoadedModel,
    images: int = 8,
    image_dir: Path | None = None,
    threads: int = 1,
    cosine_threshold: float | None = None,
    ref: np.ndarray | None = None,
) -> Parity:
    """`ref`: the reference's logits on these images when the caller has them (export computes them once)."""
    from edge_export.runtimes import open_runner

    names, batch, ref = parity_inputs(manifest, reference, images, image_dir, ref)
    with open_runner(artifact_dir, manifest, threads=threads) as runner:
        got = np.concatenate([runner.logits(batch[i : i + 1].numpy()) for i in range(len(names))])
    return Parity(**parity_fields(reference, ref, got, image_dir, threads, cosine_threshold))


def describe_failure(manifest: Manifest, parity: Parity) -> str:
    return (
        f"{manifest.model_id} {manifest.target}: cosine_min {parity.cosine_min:.6f} < {parity.cosine_threshold} "
        f"(max_abs {parity.max_abs:.3g}, top-1 agree {parity.top1_agree:.0%}) on {parity.images} images: "
        "the artifact does not compute what the PyTorch model computes"
    )


def validate_artifact(
    artifact_dir: Path, images: int = 8, image_dir: Path | None = None, threads: int = 1, write: bool = True,
    arch: str | None = None, cpu: str | None = None,
) -> Parity:
    """Measure parity, store it in the manifest, raise ValidationFailed above the target's tolerance.

    arch "arm64": on Arm kernels under QEMU instead (edge_export.arm.validate: `cpu` names the emulated CPU), stored
    in the manifest's arm_parity[cpu]; None: this host's runtime, stored in `parity`."""
    from edge_export.models import load_from_source
    from edge_export.targets import get_target

    if arch is not None or cpu is not None:
        from edge_export.arm.validate import validate_on_arm

        return validate_on_arm(artifact_dir, arch, cpu, images, image_dir, threads, write)
    artifact_dir = Path(artifact_dir)
    manifest = read_manifest(artifact_dir)
    threshold = get_target(manifest.target).cosine_threshold
    reference = load_from_source(manifest.source)
    parity = measure_parity(artifact_dir, manifest, reference, images, image_dir, threads, threshold)
    if write:
        write_manifest(artifact_dir, manifest.model_copy(update={"parity": parity}))
    if not parity.passed:
        raise ValidationFailed(describe_failure(manifest, parity))
    return parity
