"""What a model family is: how its models become an export form, and what int8 recipes keep float.

A family (SwiftFormer's original code, SwiftFormer's transformers port, a generic `nn.Module`, ...) is
registered with `@register_family` by its folder in `edge_export/models/`. A loaded model names its family
(`LoadedModel.family`); export, validation and profiling ask the family for the module to export.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, ClassVar

from torch import nn

from edge_export.errors import EdgeExportError

if TYPE_CHECKING:
    from edge_export.models.loaded import LoadedModel


class ModelFamily:
    name: ClassVar[str]
    # True when transformers' TensorFlow port computes exactly this family's function (the tf-tflite route).
    tensorflow_twin: ClassVar[bool] = False

    @property
    def module_names(self) -> str:
        """The naming scheme `canonical_module_path` gives module paths in, recorded in the manifest
        (`module_names`): a family whose models are another family's architecture under other names (a port)
        maps them to that family's, so profiles of either name every module alike. By default its own names."""
        return self.name

    def canonical_module_path(self, path: str) -> str:
        """`path`, a module of this family's export form, in the `module_names` scheme (profile rows are named
        so: edge_export.attribution.module_names). Must leave a path already in that scheme unchanged."""
        return path

    def rewrite(self, module: nn.Module, loaded: "LoadedModel") -> tuple[nn.Module, list[str]]:
        """The export form of `module` (a deep copy the caller owns): numerically equivalent, submodule names
        kept, returning a logits tensor; and the names of the rewrites applied."""
        from edge_export.models.export_form import generic_export_form

        return generic_export_form(module, loaded)

    def image_size_rule(self, loaded: "LoadedModel") -> tuple[int, int]:
        """(smallest input side, the multiple a side must be) the family's models take: `--image-size` is
        checked against it. Any nn.Module: whatever it runs on (a 28 px digits net is fine)."""
        return 1, 1

    def float_module_types(self, loaded: "LoadedModel", module: nn.Module) -> list[type]:
        """Module types of `module` (the export form) that int8 recipes keep in float: by default the
        norm forms marked KeptFloat (edge_export.models.export_form)."""
        from edge_export.models.export_form import kept_float_types

        return kept_float_types(module)


_DERIVED: dict[tuple[type, ...], type] = {}


def derived_class(bases: tuple[type, ...], like: type) -> type:
    """type(like's name, bases), made once per bases and placed in `like`'s module: export forms swap a
    submodule's class for it, so module paths, class names in profiles and the state_dict stay the model's."""
    if bases not in _DERIVED:
        _DERIVED[bases] = type(like.__name__, bases, {"__module__": like.__module__})
    return _DERIVED[bases]


_FAMILIES: dict[str, ModelFamily] = {}


def register_family(cls: type[ModelFamily]) -> type[ModelFamily]:
    if cls.name in _FAMILIES:
        raise ValueError(f"model family {cls.name} registered twice")
    _FAMILIES[cls.name] = cls()
    return cls


def get_family(name: str) -> ModelFamily:
    import edge_export.models  # noqa: F401  (every family registers on import)

    family = _FAMILIES.get(name)
    if family is None:
        raise EdgeExportError(f"unknown model family {name!r}: known {', '.join(sorted(_FAMILIES))}")
    return family


def check_image_size(loaded: "LoadedModel", size: int) -> None:
    """One line naming the sizes the model takes when `size` is not one of them."""
    minimum, multiple = get_family(loaded.family).image_size_rule(loaded)
    if size >= minimum and size % multiple == 0:
        return
    ok = max(minimum, -(-size // multiple) * multiple)
    rule = f"at least {minimum} px" + (f" and a multiple of {multiple}" if multiple > 1 else "")
    raise EdgeExportError(f"image size {size}: {loaded.model_id} takes input sides of {rule}; try --image-size {ok}")


def family_names() -> list[str]:
    import edge_export.models  # noqa: F401

    return sorted(_FAMILIES)


def copy_for_export(module: nn.Module) -> nn.Module:
    """The loaded model is never touched: every export form starts from a deep copy in eval mode."""
    return copy.deepcopy(module).eval()

