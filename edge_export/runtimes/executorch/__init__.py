"""ExecuTorch (`.pte`, XNNPACK delegate): runner, host and adb profilers, numeric gap, delegation summary."""

from __future__ import annotations

from pathlib import Path

from edge_export.errors import EdgeExportError
from edge_export.runtimes.registry import Runtime, register_runtime

XNNPACK_BACKEND = "XnnpackBackend"


@register_runtime
class ExecuTorchRuntime(Runtime):
    name = "executorch"
    description = "ExecuTorch's runtime (executorch.runtime on the host, executor_runner on a device)"
    process_global_threads = True  # XNNPACK's pool is process-global; a loaded method keeps its pool size
    runner = "edge_export.runtimes.executorch.runner:ExecuTorchRunner"
    profilers = {
        "host": "edge_export.runtimes.executorch.host_collector",
        "adb": "edge_export.runtimes.executorch.adb_collector",
    }

    def check_numeric_gap(self, artifact_dir: Path, manifest) -> None:
        backend = manifest.delegation.backend if manifest.delegation else None
        if backend != XNNPACK_BACKEND:
            raise EdgeExportError(
                f"--numeric-gap supports ExecuTorch artifacts lowered to XNNPACK; {manifest.target} records "
                f"delegate {backend!r}"
            )
        etrecord = Path(artifact_dir) / manifest.etrecord_file if manifest.etrecord_file else None
        if etrecord is None or not etrecord.is_file():
            raise EdgeExportError(
                f"--numeric-gap needs the artifact's ETRecord (the program that was lowered) and {artifact_dir} has "
                "none: re-export it without --target-opt etrecord=false"
            )

    def numeric_gap_program(self, artifact_dir, manifest, hooks, threads, sample, progress):
        from edge_export.runtimes.executorch.numeric_gap import instrumented_program

        return instrumented_program(artifact_dir, manifest, hooks, threads, sample, progress)

    def etdump_rows(self, artifact_dir, manifest, etdump, skip_runs):
        from edge_export.attribution.module_names import canonical_rows
        from edge_export.runtimes.executorch.host_collector import rows_from_etdump

        rows, notes = rows_from_etdump(artifact_dir, manifest, etdump, skip_runs)
        rows, more = canonical_rows(rows, manifest)
        return rows, notes + more
