"""Target registry: `@register_target` on a Target subclass; one file per backend registers its names."""

from __future__ import annotations

from edge_export.errors import EdgeExportError
from edge_export.targets.base import Target

_TARGETS: dict[str, Target] = {}


def register_target(cls: type[Target]) -> type[Target]:
    if cls.name in _TARGETS:
        raise ValueError(f"target {cls.name} registered twice")
    if cls.Options.owner != cls.name:  # option errors name the target
        cls.Options = type(cls.Options.__name__, (cls.Options,), {"owner": cls.name, "__module__": cls.__module__})
    _TARGETS[cls.name] = cls()
    return cls


def get_target(name: str) -> Target:
    target = _TARGETS.get(name)
    if target is None:
        raise EdgeExportError(f"unknown target {name!r}: choose from {', '.join(sorted(_TARGETS))}")
    return target


def list_targets() -> list[Target]:
    return [_TARGETS[n] for n in sorted(_TARGETS)]
