"""edge-export: ship PyTorch vision models to edge runtimes, prove they still compute the same, profile them.

The Python API (the CLI, `edge-export`, is a thin layer over it):

    import edge_export as ee
    paths = ee.export_model("swiftformer-xs", ["xnnpack-fp32", "tflite-int8"], out_dir="artifacts",
                            model_options={"layer_scale_init_value": 1.0})
    parity = ee.validate_artifact(paths[0])
    profile, path = ee.profile_artifact(paths[0], threads=2)
    ee.build_dashboard(["artifacts"], "artifacts/report.html")

Importing the package imports nothing heavy: every name below is loaded on first use.
"""

import importlib as _importlib
import os as _os

# transformers would otherwise import TensorFlow (installed for the TF-native route) on every use: ~10 s
# and a duplicate-protobuf hazard with ai_edge_litert. The TF route's child sets these to AUTO.
_os.environ.setdefault("USE_TF", "0")
_os.environ.setdefault("USE_TORCH", "1")
_os.environ.setdefault("USE_FLAX", "0")

__version__ = "0.1.0"

_API = {
    "EdgeExportError": "edge_export.errors",
    "ExportFailed": "edge_export.errors",
    "ValidationFailed": "edge_export.errors",
    "ExportRequest": "edge_export.export",
    "export_model": "edge_export.export",
    "validate_artifact": "edge_export.validate",
    "profile_artifact": "edge_export.profile.dispatch",
    "load_model": "edge_export.models",
    "list_models": "edge_export.models",
    "list_targets": "edge_export.targets",
    "list_runtimes": "edge_export.runtimes",
    "open_runner": "edge_export.runtimes",
    "read_manifest": "edge_export.artifacts",
    "load_profile": "edge_export.profile.schema",
    "build_dashboard": "edge_export.report.dashboard",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_export' has no attribute {name!r}")
    return getattr(_importlib.import_module(module), name)


def __dir__():
    return sorted(list(globals()) + __all__)
