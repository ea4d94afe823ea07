"""Export targets. Importing this package registers every backend file below (one line each)."""

from edge_export.targets import xnnpack  # noqa: F401  (registration)
from edge_export.targets import qnn  # noqa: F401  (registration)
from edge_export.targets import litert, tf_tflite  # noqa: F401  (registration)
from edge_export.targets.base import ExportContext, ExportResult, Target
from edge_export.targets.registry import get_target, list_targets, register_target

__all__ = ["ExportContext", "ExportResult", "Target", "get_target", "list_targets", "register_target"]
