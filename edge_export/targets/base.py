"""What a target is: a named way to turn an export-form module into a program file for one runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from edge_export.artifacts import Delegation, TensorSpec
from edge_export.models.loaded import LoadedModel
from edge_export.options import TargetOptions


@dataclass
class ExportContext:
    workdir: Path  # the staging artifact dir: write the program (and side files) here
    calib: int = 32
    seed: int = 0
    calib_dir: Path | None = None  # the user's calibration images (default: the sample photographs)
    options: TargetOptions = field(default_factory=TargetOptions)  # the target's typed options (Target.Options)
    progress: Callable[[str], None] = lambda msg: None

    def calibration(self, loaded: LoadedModel):
        """The int8 calibration set for this export (edge_export.images.calibration)."""
        from edge_export.images import calibration

        return calibration(loaded.preprocessing, self.calib, self.seed, self.calib_dir)


@dataclass
class ExportResult:
    program_file: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    delegation: Delegation | None = None
    etrecord_file: str | None = None
    target_options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Target:
    name: ClassVar[str]
    runtime: ClassVar[str]  # which runner loads the artifact (edge_export.runtimes)
    description: ClassVar[str]
    precision: ClassVar[str]  # "fp32" | "fp16" | "int8" ...
    # fp32 paths must match the reference to float rounding; quantized ones get a looser bar (see README).
    cosine_threshold: ClassVar[float]
    Options: ClassVar[type[TargetOptions]] = TargetOptions  # its --target-opt keys, typed and checked
    experimental: ClassVar[bool] = False
    # Targets with the same work_group share work in one process (the TFLite targets: one fp32 conversion);
    # None: a group of its own. Groups may run side by side (edge_export.export_pool).
    work_group: ClassVar[str | None] = None
    # Share of an export's time, relative to the others (docs/measurements.md "Export cost"): the costliest
    # groups start first when groups run side by side.
    export_cost: ClassVar[float] = 1.0

    @property
    def accepted_options(self) -> frozenset[str]:
        return self.Options.names()

    def options(self, raw=None) -> TargetOptions:
        """`raw` (KEY -> value, strings from the CLI) parsed into this target's options; one-line errors."""
        return self.Options.parse(raw)

    def check_available(self, options: TargetOptions | None = None) -> None:
        """Raise EdgeExportError if this machine cannot export this target with these options (missing SDK...).

        Called before the model is loaded, so bad set-ups fail in a second, not after minutes of work."""

    def export(self, module: nn.Module, loaded: LoadedModel, sample: torch.Tensor, ctx: ExportContext) -> ExportResult:
        raise NotImplementedError
