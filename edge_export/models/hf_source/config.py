"""transformers configs for `hf:` sources: which model types are image classifiers, the class that builds
each, and `--opt key=value` applied to config fields (typed like the field's default)."""

from __future__ import annotations

import json
from typing import Any

from edge_export.errors import EdgeExportError


def _all_classes() -> dict[str, tuple[str, ...]]:
    """model_type -> every transformers class that classifies images for it (transformers' own mapping)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES as names

    return {t: (tuple(c) if isinstance(c, (tuple, list)) else (c,)) for t, c in names.items()}


def classifier_classes() -> dict[str, str]:
    """model_type -> the transformers class that classifies images (the first when there are several)."""
    return {t: classes[0] for t, classes in _all_classes().items()}


def classifier_class(config, where: str):
    """The image-classification class for `config`: its `architectures` entry if that is one, else the
    model type's default; a one-line error when the model is not an image classifier."""
    import transformers

    classes = classifier_classes()
    archs = list(getattr(config, "architectures", None) or [])
    allowed = set(_all_classes().get(config.model_type, ()))
    for arch in archs:
        if arch in allowed:
            return getattr(transformers, arch)
    if archs:
        raise EdgeExportError(
            f"{where} is a {archs[0]}, not an image classifier: save a *ForImageClassification model "
            f"({classes.get(config.model_type, 'none for ' + config.model_type)}) with save_pretrained()"
        )
    if config.model_type not in classes:
        raise EdgeExportError(f"{where}: transformers has no image classifier for model type {config.model_type!r}")
    return getattr(transformers, classes[config.model_type])


def default_config(model_type: str):
    """The default config of an image-classifier model type; a one-line error naming close ones if unknown."""
    from transformers import AutoConfig

    classes = classifier_classes()
    if model_type not in classes:
        import difflib

        close = difflib.get_close_matches(model_type, list(classes), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise EdgeExportError(
            f"unknown transformers image-classifier type {model_type!r}: {hint}"
            f"use one of {len(classes)} model types (e.g. deit, mobilevitv2, convnext) or hf:<folder>"
        )
    return AutoConfig.for_model(model_type)


def apply_options(config, options: dict[str, Any], where: str) -> dict[str, Any]:
    """Set each option on the config (a config field of that name must exist); returns what was set, typed."""
    applied = {}
    for key, raw in options.items():
        if key.startswith("_") or not hasattr(config, key):
            raise EdgeExportError(
                f"{key!r} is not a field of the {config.model_type} config ({where}): "
                f"use a field of {type(config).__name__}, e.g. {', '.join(sorted(_fields(config))[:5])}"
            )
        value = coerce(raw, getattr(config, key), key)
        setattr(config, key, value)
        applied[key] = value
    if "num_labels" in applied:  # keeps id2label/label2id in step with the new count
        config.num_labels = applied["num_labels"]
    return applied


def _fields(config) -> list[str]:
    return [k for k in config.to_dict() if not k.startswith("_") and k not in ("transformers_version", "architectures")]


def coerce(raw: Any, default: Any, key: str) -> Any:
    """A CLI string (`--opt depths=[2,2]`) or a Python value, as the type of the field's default."""
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = {"true": True, "false": False}.get(raw.lower(), raw)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise EdgeExportError(f"config field {key} takes true or false, not {raw!r}")
        return value
    if isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, int) and not isinstance(value, int):
        raise EdgeExportError(f"config field {key} takes an integer, not {raw!r}")
    if isinstance(default, (list, tuple)) and not isinstance(value, list):
        raise EdgeExportError(f"config field {key} takes a list such as [1,2], not {raw!r}")
    return value
