"""Registries fill themselves: a package imports every module (or folder) in it, and each registers itself."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def import_submodules(package: ModuleType, *, folders_only: bool = False) -> list[str]:
    """Import every module of `package` (only its subpackages with `folders_only`); their names, in order.
    Already-imported ones cost nothing, so calling it again picks up what was added to the package's path."""
    names = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if folders_only and not info.ispkg:
            continue
        names.append(importlib.import_module(f"{package.__name__}.{info.name}").__name__)
    return names
