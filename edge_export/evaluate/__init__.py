"""Accuracy on the user's labelled images: every artifact in its real runtime, the PyTorch reference once."""

from edge_export.evaluate.run import EVAL_NAME, EVAL_SCHEMA, evaluate

__all__ = ["EVAL_NAME", "EVAL_SCHEMA", "evaluate"]
