"""Typed target options: one pydantic model per target, parsed once from the strings the CLI gives.

A target declares `Options`, a subclass of `TargetOptions`; `--target-opt KEY=VALUE` values arrive as
strings (Python callers may pass real values) and are checked there: an unknown key or a bad value is one
line naming the option and the choices, before any model is loaded.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Mapping

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from edge_export.errors import EdgeExportError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def to_flag(value: Any) -> bool:
    """true/false, 1/0, yes/no, on/off (any case), or a bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


Flag = Annotated[bool, BeforeValidator(to_flag)]


class TargetOptions(BaseModel):
    """Options of one target. Subclasses declare fields with defaults; validators raise ValueError with the
    whole one-line message (what is wrong and the choices)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    owner: ClassVar[str] = "this target"

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(cls.model_fields)

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | "TargetOptions" | None) -> "TargetOptions":
        if isinstance(raw, cls):
            return raw
        raw = {} if raw is None else dict(raw)
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise EdgeExportError(_one_line(e, cls)) from None

    def given(self) -> dict[str, Any]:
        """The options set explicitly (not defaults)."""
        return {k: getattr(self, k) for k in self.model_fields_set}


def _one_line(error: ValidationError, cls: type[TargetOptions]) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        accepted = ", ".join(sorted(cls.names())) or "none"
        return f"option {key} does not apply to {cls.owner}: accepted: {accepted}"
    msg = str(first["msg"]).removeprefix("Value error, ")
    return msg if key.split(".")[0] in msg else f"{key}: {msg}"
