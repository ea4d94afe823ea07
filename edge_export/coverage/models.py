"""The coverage set: SwiftFormer and the architectures the SwiftFormer paper compares with, as transformers
builds them (random init, `hf:` sources), plus the paper's and the community's published latencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SWIFTFORMER_OPTS = {"layer_scale_init_value": 1.0}  # non-trivial outputs from random init (README)
HF = {"num_labels": 1000}


@dataclass(frozen=True)
class Entry:
    name: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    # SwiftFormer paper, Table 1: iPhone 14 Neural Engine latency (ms), where the paper lists the model
    paper_iphone14_ms: float | None = None


DEFAULT = [
    Entry("swiftformer-xs", "swiftformer-xs", SWIFTFORMER_OPTS, 0.7),
    Entry("swiftformer-s", "swiftformer-s", SWIFTFORMER_OPTS, 0.8),
    Entry("swiftformer-l1", "swiftformer-l1", SWIFTFORMER_OPTS, 1.1),
    Entry("swiftformer-l3", "swiftformer-l3", SWIFTFORMER_OPTS, 1.9),
    Entry("mobilevitv2-1.0", "hf:mobilevitv2", HF),
    Entry("mobilevit-xs", "hf:mobilevit", {**HF, "hidden_sizes": [96, 120, 144],
                                           "neck_hidden_sizes": [16, 32, 48, 64, 80, 96, 384]}),
    Entry("mobilenet-v1", "hf:mobilenet_v1", HF),
    Entry("mobilenet-v2", "hf:mobilenet_v2", HF),
    Entry("efficientnet-b0", "hf:efficientnet", {**HF, "width_coefficient": 1.0, "depth_coefficient": 1.0,
                                                 "image_size": 224, "hidden_dim": 1280, "dropout_rate": 0.2}),
    Entry("convnext-small-config", "hf:convnext", {**HF, "depths": [2, 2, 6, 2], "hidden_sizes": [40, 80, 160, 320]}),
    Entry("deit-tiny", "hf:deit", {**HF, "hidden_size": 192, "num_hidden_layers": 12, "num_attention_heads": 3,
                                   "intermediate_size": 768}),
    Entry("levit-128s", "hf:levit", {**HF, "hidden_sizes": [128, 256, 384], "num_attention_heads": [4, 6, 8],
                                     "depths": [2, 3, 4], "key_dim": [16, 16, 16]}),
    Entry("resnet-18", "hf:resnet", {**HF, "embedding_size": 64, "hidden_sizes": [64, 128, 256, 512],
                                     "depths": [2, 2, 2, 2], "layer_type": "basic"}),
    Entry("dinov2-small", "hf:dinov2", {**HF, "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6,
                                        "image_size": 224, "patch_size": 14}),
    Entry("swin-tiny", "hf:swin", HF),
]

QUICK = [
    DEFAULT[0],
    Entry("mobilenet-v2-0.35", "hf:mobilenet_v2", {**HF, "depth_multiplier": 0.35, "image_size": 128}),
    Entry("deit-mini", "hf:deit", {**HF, "hidden_size": 96, "num_hidden_layers": 4, "num_attention_heads": 2,
                                   "intermediate_size": 192, "image_size": 128}),
]
QUICK_TARGETS = ["xnnpack-fp32", "tflite-fp32"]

# Small enough for the test suite (not a default set; named on the command line).
TINY = [
    Entry("swiftformer-test", "swiftformer-test", SWIFTFORMER_OPTS),
    Entry("deit-tiny-test", "hf:deit", {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                                        "intermediate_size": 64, "image_size": 32, "patch_size": 8}),
]

# The headline comparisons of the paper, and where their published figures come from.
PAPER_PAIRS = [("mobilevitv2-1.0", "swiftformer-s"), ("mobilenet-v2", "swiftformer-xs")]
PAPER_SOURCE = ("Shaker et al., SwiftFormer (ICCV 2023), Table 1: iPhone 14 Neural Engine latency; "
                "MobileViT-v2 1.0 and MobileNetV2 figures are in that table")
COMMUNITY_QNN = ("SwiftFormer-L1 on a Snapdragon 8 Gen 2 through QNN: 2.26-2.63 ms (the original repository's "
                 "README)")


def known_entries() -> dict[str, Entry]:
    return {e.name: e for e in DEFAULT + QUICK + TINY}


def resolve(names: list[str]) -> list[Entry]:
    """Coverage entries by name; any other name is a model id with no options (e.g. hf:<folder>)."""
    known = known_entries()
    return [known.get(n) or Entry(n, n) for n in names]
