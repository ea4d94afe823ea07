"""`validate --arch arm64 [--cpu CPU]`: an artifact on Arm kernels (LiteRT's aarch64 build under QEMU), held to the
same bar as on the host.

What is shared with the host's validation (edge_export.validate) is shared code, not a copy: the images and their
preprocessing and the PyTorch reference's logits (parity_inputs), the program-input and output conversions the
host runner applies (runtimes.base.to_program_input / from_program_output, done here on the host: the guest gets
program-ready arrays), the metrics and Parity fields (parity_fields). All images run in ONE guest process
(run_tflite_sets: a guest start costs about a second). The same file also runs on this host's kernels, so the
record says how the Arm kernels compare with the x86 ones, apart from how both compare with PyTorch.

The result goes to the manifest's arm_parity[cpu] (artifacts.ArmParity). A missed bar fails (ValidationFailed,
exit 1) unless the CPU level is marked unreliable (the SME level when setup's SMOPA check failed under the runtime's
QEMU: cpus.get_cpu(name, env)); bad input and guest crashes raise EdgeExportError (exit 2) before anything is
written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_export.arm.cpus import DEFAULT_CPU, get_cpu
from edge_export.artifacts import ArmParity, Manifest
from edge_export.errors import EdgeExportError, ValidationFailed

ARCHES = ("arm64",)
# The aarch64 executorch wheel's Python runtime imports torch, and PyPI's aarch64 torch is a CUDA build that does not
# import without CUDA's libraries (../shared/notes/arm-qemu.md); hand-patching torch is not a way.
PTE_NOT_COVERED = ("ExecuTorch (.pte) artifacts are not covered on Arm: the aarch64 executorch wheel's runtime needs "
                   "torch, and PyPI's aarch64 torch is a CUDA build that does not import without CUDA libraries; "
                   "--arch arm64 and --device qemu-arm64 run .tflite (LiteRT) artifacts")


def check_arch(arch: str | None) -> None:
    if arch is None:
        raise EdgeExportError("--cpu picks an emulated Arm CPU: give it with --arch arm64")
    if arch not in ARCHES:
        raise EdgeExportError(f"unknown --arch {arch!r}: choose arm64 (Arm kernels under QEMU; without --arch this "
                              f"host's runtime validates)")


def check_arm_artifact(manifest: Manifest) -> None:
    """A one-line EdgeExportError unless the artifact is a .tflite the aarch64 runtime can run."""
    if manifest.runtime == "litert":
        return
    if manifest.program_file.endswith(".pte"):
        raise EdgeExportError(f"{manifest.target}: {PTE_NOT_COVERED}")
    raise EdgeExportError(f"{manifest.target} ({manifest.runtime}) is not covered on Arm: --arch arm64 and --device "
                          f"qemu-arm64 run .tflite (LiteRT) artifacts")


def validate_on_arm(artifact_dir: Path, arch: str | None = "arm64", cpu: str | None = None, images: int = 8,
                    image_dir: Path | None = None, threads: int = 1, write: bool = True) -> ArmParity:
    """Measure parity on the emulated `cpu`, store it in the manifest's arm_parity[cpu], raise ValidationFailed
    below the target's bar on a reliable level."""
    from edge_export.arm.provision import load_env
    from edge_export.arm.run import run_tflite_sets
    from edge_export.artifacts import check_program_file, read_manifest, write_manifest
    from edge_export.models import load_from_source
    from edge_export.runtimes import open_runner
    from edge_export.runtimes.base import from_program_output, to_program_input
    from edge_export.targets import get_target
    from edge_export.validate import compare_logits, parity_fields, parity_inputs

    check_arch(arch)
    model = get_cpu(cpu or DEFAULT_CPU)
    artifact_dir = Path(artifact_dir)
    manifest = read_manifest(artifact_dir)
    check_arm_artifact(manifest)
    env = load_env()
    path = check_program_file(artifact_dir, manifest)
    threshold = get_target(manifest.target).cosine_threshold
    reference = load_from_source(manifest.source)
    names, batch, ref = parity_inputs(manifest, reference, images, image_dir)
    nchw = [batch[i : i + 1].numpy() for i in range(len(names))]
    run = run_tflite_sets(env, path, [[to_program_input(x, manifest.inputs[0])] for x in nchw], model.name, threads)
    out_spec = manifest.outputs[0]
    shapes = {tuple(outs[0].shape) for outs in run.set_outputs}
    if shapes != {tuple(out_spec.shape)}:
        raise EdgeExportError(f"{path} gives outputs of shape {sorted(shapes)} on Arm, its manifest says "
                              f"{out_spec.shape}: re-export the artifact")
    got = np.concatenate([from_program_output(outs[0], out_spec) for outs in run.set_outputs])
    with open_runner(artifact_dir, manifest, threads=threads) as runner:  # the same file on this host's kernels
        host = np.concatenate([runner.logits(x) for x in nchw])
    parity = ArmParity(
        **parity_fields(reference, ref, got, image_dir, threads, threshold),
        cpu=run.cpu, qemu_cpu=run.qemu_cpu, feature_level=run.level, reliable=run.reliable, note=run.note,
        features=run.features, kernels=run.kernels, delegate_partitions=run.delegate_partitions,
        versions={k: str(v) for k, v in run.versions.items()},
        emulated_invoke_ms=run.timings["median_s"] * 1e3, vs_host=compare_logits(host, got),
    )
    if write:  # beside the host's parity and the other CPU levels' (as they are now)
        current = read_manifest(artifact_dir)
        arm = {**current.arm_parity, parity.cpu: parity}
        write_manifest(artifact_dir, current.model_copy(update={"arm_parity": arm}))
    if not parity.passed and parity.reliable:
        raise ValidationFailed(
            f"{manifest.model_id} {manifest.target} on Arm kernels ({parity.cpu}, {parity.feature_level}): cosine_min "
            f"{parity.cosine_min:.6f} < {threshold} (max_abs {parity.max_abs:.3g}, top-1 agree "
            f"{parity.top1_agree:.0%}) on {parity.images} images: the Arm build does not compute what the PyTorch "
            "model computes"
        )
    return parity
