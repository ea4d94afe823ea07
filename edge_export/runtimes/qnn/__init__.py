"""Qualcomm QNN (HTP) support: find/provision the host SDK, lower and run in a child process. EXPERIMENTAL.

Light to import: no torch, no ExecuTorch, no QNN library is loaded here.

    from edge_export.runtimes.qnn import find_qnn_sdk, setup_host_sdk, lower_to_qnn, run_qnn_pte, QnnPteSession

The submodules are imported on first use (PEP 562), so `python -m edge_export.runtimes.qnn.<submodule>`
runs its module cleanly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edge_export.runtimes.qnn.sdk import (
    QnnSdk,
    QnnSdkError,
    QnnWorkerError,
    default_sdk_home,
    find_qnn_sdk,
    qnn_subprocess_env,
    run_in_qnn_env,
    validate_qnn_sdk,
)

_LAZY = {
    "setup_host_sdk": "edge_export.runtimes.qnn.provision",
    "QnnLoweringResult": "edge_export.runtimes.qnn.lowering",
    "QnnRunResult": "edge_export.runtimes.qnn.lowering",
    "check_chipset": "edge_export.runtimes.qnn.lowering",
    "list_chipsets": "edge_export.runtimes.qnn.lowering",
    "lower_to_qnn": "edge_export.runtimes.qnn.lowering",
    "lower_to_qnn_many": "edge_export.runtimes.qnn.lowering",
    "QnnJob": "edge_export.runtimes.qnn.lowering",
    "QnnPteSession": "edge_export.runtimes.qnn.lowering",
    "run_qnn_pte": "edge_export.runtimes.qnn.lowering",
}

if TYPE_CHECKING:
    from edge_export.runtimes.qnn.lowering import (  # noqa: F401
        QnnLoweringResult,
        QnnRunResult,
        check_chipset,
        list_chipsets,
        QnnJob,
        QnnPteSession,
        lower_to_qnn,
        lower_to_qnn_many,
        run_qnn_pte,
    )
    from edge_export.runtimes.qnn.provision import setup_host_sdk  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "QnnJob",
    "QnnLoweringResult",
    "QnnPteSession",
    "QnnRunResult",
    "QnnSdk",
    "QnnSdkError",
    "QnnWorkerError",
    "check_chipset",
    "default_sdk_home",
    "find_qnn_sdk",
    "list_chipsets",
    "lower_to_qnn",
    "lower_to_qnn_many",
    "qnn_subprocess_env",
    "run_in_qnn_env",
    "run_qnn_pte",
    "setup_host_sdk",
    "validate_qnn_sdk",
]


from edge_export.runtimes.registry import Runtime, register_runtime  # noqa: E402


@register_runtime
class QnnRuntime(Runtime):
    name = "executorch-qnn"
    description = "ExecuTorch with Qualcomm's QNN delegate (on this x86 host: QNN's HTP simulator)"
    runner = "edge_export.runtimes.qnn.runner:QnnRunner"
    profilers = {"host": "edge_export.runtimes.qnn.host_collector"}

    def check_numeric_gap(self, artifact_dir, manifest) -> None:
        from edge_export.errors import EdgeExportError

        raise EdgeExportError(
            f"--numeric-gap is not supported for {self.name} artifacts ({manifest.target}): the QNN/HTP "
            "delegate exposes no intermediate tensors here; it supports ExecuTorch/XNNPACK and TFLite artifacts"
        )
