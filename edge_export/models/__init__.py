"""Where models come from: one folder per model family or source (swiftformer/, python_source/, timm_source/),
each registering its ids, prefixes and families when this package imports it (no list names them)."""

import edge_export.models as _this
from edge_export.discovery import import_submodules as _import_submodules
from edge_export.models import export_form as _export_form  # noqa: F401  (the generic family)
from edge_export.models.loaded import LoadedModel, LogitsOnly, logits_of
from edge_export.models.registry import (
    ModelEntry,
    ModelRequest,
    list_models,
    load_from_source,
    load_model,
    model_ids,
    register_model,
    register_prefix,
)

__all__ = [
    "LoadedModel",
    "LogitsOnly",
    "ModelEntry",
    "ModelRequest",
    "list_models",
    "load_from_source",
    "load_model",
    "logits_of",
    "model_ids",
    "register_model",
    "register_prefix",
]

_import_submodules(_this, folders_only=True)
