"""Where models come from. Importing this package registers every source below."""

from edge_export.models import python_module, swiftformer, timm_source  # noqa: F401  (registration)
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
