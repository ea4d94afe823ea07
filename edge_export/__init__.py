"""edge-export: ship PyTorch vision models to edge runtimes, prove they still compute the same, profile them."""

import os as _os

# transformers would otherwise import TensorFlow (installed for the TF-native route) on every use: ~10 s
# and a duplicate-protobuf hazard with ai_edge_litert. The TF route runs in its own process and unsets these.
_os.environ.setdefault("USE_TF", "0")
_os.environ.setdefault("USE_TORCH", "1")
_os.environ.setdefault("USE_FLAX", "0")

__version__ = "0.1.0"
