"""Export targets: one file each in this folder, registered with `@register_target` and found by discovery."""

import edge_export.targets as _this
from edge_export.discovery import import_submodules as _import_submodules
from edge_export.targets.base import ExportContext, ExportResult, Target
from edge_export.targets.registry import get_target, list_targets, register_target

_import_submodules(_this)

__all__ = ["ExportContext", "ExportResult", "Target", "get_target", "list_targets", "register_target"]
