"""SwiftFormer variants as plain numbers, shared by both implementations (original form, transformers port)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class SwiftFormerSpec:
    depths: tuple[int, ...]
    embed_dims: tuple[int, ...]
    num_classes: int = 1000
    mlp_ratio: int = 4
    # 1e-5 is the training init (the original repository and transformers): with random weights the
    # attention/MLP branches are then ~identity and logits are ~1e-3, which makes fidelity checks meaningless.
    # Tests and `make run` set 1.0 for random-weight models; checkpoints bring their own values.
    layer_scale_init_value: float = 1e-5
    image_size: int = 224
    extra: dict[str, Any] = field(default_factory=dict)

    def with_options(self, options: dict[str, Any]) -> "SwiftFormerSpec":
        known = {"num_classes", "layer_scale_init_value", "image_size"}
        unknown = sorted(set(options) - known)
        if unknown:
            from edge_export.errors import EdgeExportError

            raise EdgeExportError(
                f"unknown SwiftFormer option(s) {', '.join(unknown)}: use one of {', '.join(sorted(known))}"
            )
        cast = {"num_classes": int, "layer_scale_init_value": float, "image_size": int}
        return replace(self, **{k: cast[k](v) for k, v in options.items()})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Paper / original repository table (Amshaker/SwiftFormer). "test" is a tiny config for fast tests,
# in the spirit of timm's test_* models.
SWIFTFORMER_VARIANTS: dict[str, SwiftFormerSpec] = {
    "xs": SwiftFormerSpec(depths=(3, 3, 6, 4), embed_dims=(48, 56, 112, 220)),
    "s": SwiftFormerSpec(depths=(3, 3, 9, 6), embed_dims=(48, 64, 168, 224)),
    "l1": SwiftFormerSpec(depths=(4, 3, 10, 5), embed_dims=(48, 96, 192, 384)),
    "l3": SwiftFormerSpec(depths=(4, 4, 12, 6), embed_dims=(64, 128, 320, 512)),
    "test": SwiftFormerSpec(depths=(1, 1, 2, 1), embed_dims=(16, 24, 32, 48), num_classes=10, image_size=64),
}

# Published parameter counts (millions) the zoo must reproduce.
PAPER_PARAMS_M = {"xs": 3.5, "s": 6.1, "l1": 12.1, "l3": 28.5}
