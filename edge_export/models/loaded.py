"""What every model source returns: an eval-mode module plus what is needed to feed and describe it."""

from __future__ import annotations

from dataclasses import dataclass, field
import torch
from torch import nn

from edge_export.artifacts import Preprocessing, SourceSpec

def logits_of(output) -> torch.Tensor:
    """The class scores of a classifier's output, whatever container it comes in."""
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot find logits in a model output of type {type(output).__name__}")


class LogitsOnly(nn.Module):
    """Wraps a model whose forward returns an output object, so export sees one tensor."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return logits_of(self.model(x))


@dataclass
class LoadedModel:
    module: nn.Module
    family: str  # a registered model family (edge_export.models.family): it owns the export form
    source: SourceSpec
    preprocessing: Preprocessing
    num_classes: int
    labels: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def model_id(self) -> str:
        return self.source.model_id

    def input_shape(self, batch: int = 1) -> tuple[int, int, int, int]:
        s = self.preprocessing.image_size
        return (batch, 3, s, s)

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return logits_of(self.module(x))

    def param_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def flops(self) -> int:
        """FLOPs (2 x MACs) of one forward pass at the model's input size, counted on the meta device."""
        from edge_export.models.flops import count_flops

        return count_flops(self.module, self.input_shape())
