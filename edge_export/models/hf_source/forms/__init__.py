"""Export forms of transformers modules that no graph-level pass can fix, one file per architecture.

A form is a subclass of a transformers module class with an equivalent forward, registered with
`@form_of("<module class name>")`; `apply_forms` swaps the class of every matching submodule of the
export copy (names, parameters and state_dict unchanged) and calls the form's `prepare_form()` if it has
one. Files here are imported on first use, so an architecture's forms are found without edits elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from torch import nn

from edge_export.models.family import derived_class

# transformers class name -> (the form's mixin, what the rewrite does)
_FORMS: dict[str, tuple[type, str]] = {}


def form_of(class_name: str, what: str):
    """Register `mixin` as the export form of transformers' `class_name`: the form class derives from
    (mixin, original), so the mixin's methods win and everything else is kept."""

    def register(mixin: type) -> type:
        if class_name in _FORMS:
            raise ValueError(f"an export form of {class_name} is registered twice")
        _FORMS[class_name] = (mixin, what)
        return mixin

    return register


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def apply_forms(module: nn.Module) -> list[str]:
    """Swap every submodule that has a registered form; one description per kind, with its count."""
    _load_all()
    counts: dict[str, int] = {}
    for sub in module.modules():
        cls = type(sub)
        mixin, what = _FORMS.get(cls.__name__, (None, None))
        if mixin is None or isinstance(sub, mixin):
            continue
        sub.__class__ = derived_class((mixin, cls), like=cls)
        if hasattr(sub, "prepare_form"):
            sub.prepare_form()
        counts[what] = counts.get(what, 0) + 1
    return [f"{n} {what}" for what, n in counts.items()]
