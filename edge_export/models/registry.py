"""The model zoo: ids -> builders, plus prefix sources (`module:`, `timm:`) for any other image model.

A new model family is one file that calls `register_model` (or `register_prefix`) and one import line
in `edge_export/models/__init__.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edge_export.artifacts import SourceSpec, sha256_file
from edge_export.errors import EdgeExportError
from edge_export.models.loaded import LoadedModel


@dataclass(frozen=True)
class ModelRequest:
    model_id: str
    checkpoint: Path | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[ModelRequest], LoadedModel]


@dataclass(frozen=True)
class ModelEntry:
    model_id: str
    description: str
    builder: Builder
    variant: str | None = None
    listed: bool = True


_ENTRIES: dict[str, ModelEntry] = {}
_PREFIXES: dict[str, tuple[str, Builder]] = {}


def register_model(model_id: str, *, description: str, variant: str | None = None, listed: bool = True):
    def deco(builder: Builder) -> Builder:
        if model_id in _ENTRIES:
            raise ValueError(f"model id {model_id} registered twice")
        _ENTRIES[model_id] = ModelEntry(model_id, description, builder, variant, listed)
        return builder

    return deco


def register_prefix(prefix: str, *, usage: str):
    def deco(builder: Builder) -> Builder:
        _PREFIXES[prefix] = (usage, builder)
        return builder

    return deco


def list_models() -> list[ModelEntry]:
    return [e for e in _ENTRIES.values() if e.listed]


def model_ids() -> list[str]:
    return sorted(_ENTRIES)


def _unknown_model(model_id: str) -> EdgeExportError:
    import difflib

    close = difflib.get_close_matches(model_id, list(_ENTRIES), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    prefixes = ", ".join(usage for usage, _ in _PREFIXES.values())
    return EdgeExportError(f"unknown model {model_id!r}: {hint}run `edge-export models` for the zoo, or use {prefixes}")


def load_model(
    model_id: str, checkpoint: str | Path | None = None, seed: int = 0, options: dict[str, Any] | None = None
) -> LoadedModel:
    """Build the model `model_id`; from `checkpoint` if given, else seeded random weights. Always eval mode."""
    ckpt = Path(checkpoint).expanduser() if checkpoint is not None else None
    if ckpt is not None and not ckpt.exists():
        raise EdgeExportError(f"checkpoint not found: {ckpt} (give a .pth file or a transformers folder)")
    request = ModelRequest(model_id, ckpt, seed, dict(options or {}))
    for prefix, (_, builder) in _PREFIXES.items():
        if model_id.startswith(prefix):
            loaded = builder(request)
            break
    else:
        entry = _ENTRIES.get(model_id)
        if entry is None:
            raise _unknown_model(model_id)
        loaded = entry.builder(request)
    loaded.module.eval()
    return loaded


def load_from_source(source: SourceSpec) -> LoadedModel:
    """Rebuild exactly the model an artifact was exported from (checks the checkpoint is unchanged)."""
    if source.checkpoint is not None:
        path = Path(source.checkpoint)
        if not path.exists():
            raise EdgeExportError(f"the artifact's checkpoint {path} is gone: restore it to rebuild the reference")
        if source.checkpoint_sha256 and checkpoint_sha256(path) != source.checkpoint_sha256:
            raise EdgeExportError(f"checkpoint {path} changed since export (sha256 differs): re-export the artifact")
    return load_model(source.model_id, source.checkpoint, source.seed or 0, source.options)


def source_spec(request: ModelRequest, kind: str, **extra) -> SourceSpec:
    """The SourceSpec of a request: checkpoint path + sha256 if given, else the seed of the random init."""
    ckpt = request.checkpoint
    return SourceSpec(
        kind=kind,
        model_id=request.model_id,
        checkpoint=str(ckpt.resolve()) if ckpt is not None else None,
        checkpoint_sha256=checkpoint_sha256(ckpt) if ckpt is not None else None,
        seed=request.seed if ckpt is None else None,
        options=dict(request.options),
        **extra,
    )


def checkpoint_sha256(path: Path) -> str:
    """sha256 of a checkpoint file, or of a folder's weight and config files in name order."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
        h.update(f.name.encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()
