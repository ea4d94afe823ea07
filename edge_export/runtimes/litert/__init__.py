"""LiteRT (`.tflite`): runner, host (C API profiler) and adb (benchmark_model) profilers, numeric gap, op table."""

from __future__ import annotations

from edge_export.runtimes.registry import Runtime, register_runtime


@register_runtime
class LiteRtRuntime(Runtime):
    name = "litert"
    description = "LiteRT (ai-edge-litert's Interpreter and C API on the host, benchmark_model on a device)"
    profilers = ("host", "adb")

    def open_runner(self, artifact_dir, manifest, threads, **kw):
        from edge_export.runtimes.litert.runner import LiteRTRunner

        return LiteRTRunner(artifact_dir, manifest, threads, **kw)

    def collect(self, where, request):
        if where == "host":
            from edge_export.runtimes.litert.host_collector import collect
        elif where == "adb":
            from edge_export.runtimes.litert.adb_collector import collect
        else:
            return super().collect(where, request)
        return collect(request)

    def check_numeric_gap(self, artifact_dir, manifest) -> None:
        pass  # every .tflite: module outputs are appended to the subgraph outputs

    def numeric_gap_program(self, artifact_dir, manifest, hooks, threads, sample, progress):
        from edge_export.runtimes.litert.numeric_gap import instrumented_program

        return instrumented_program(artifact_dir, manifest, hooks, threads)
