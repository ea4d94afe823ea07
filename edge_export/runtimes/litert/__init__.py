"""LiteRT (`.tflite`): runner, host (C API profiler), qemu-arm64 (the same profiler in LiteRT's aarch64 build under
QEMU) and adb (benchmark_model) profilers, numeric gap, op table."""

from __future__ import annotations

from edge_export.runtimes.registry import Runtime, register_runtime


@register_runtime
class LiteRtRuntime(Runtime):
    name = "litert"
    description = "LiteRT (ai-edge-litert's Interpreter and C API on the host, benchmark_model on a device)"
    runner = "edge_export.runtimes.litert.runner:LiteRTRunner"
    profilers = {
        "host": "edge_export.runtimes.litert.host_collector",
        "adb": "edge_export.runtimes.litert.adb_collector",
        "qemu-arm64": "edge_export.runtimes.litert.qemu_collector",
    }

    def check_numeric_gap(self, artifact_dir, manifest) -> None:
        pass  # every .tflite: module outputs are appended to the subgraph outputs

    def numeric_gap_program(self, artifact_dir, manifest, hooks, threads, sample, progress):
        from edge_export.runtimes.litert.numeric_gap import instrumented_program

        return instrumented_program(artifact_dir, manifest, hooks, threads)


PROFILE_KERNEL_MODES = ("delegate", "builtin")  # what `profile -o kernel_mode=` takes on host, qemu-arm64 and adb


def profile_kernel_mode(options: dict) -> str:
    """The kernel mode a LiteRT profile asks for (`-o kernel_mode=`), checked; delegate by default."""
    from edge_export.errors import EdgeExportError

    mode = str(options.get("kernel_mode", "delegate"))
    if mode not in PROFILE_KERNEL_MODES:
        raise EdgeExportError(f"kernel_mode must be 'delegate' or 'builtin', got {mode!r}")
    return mode
