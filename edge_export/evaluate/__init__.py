"""Accuracy on the user's labelled images: every artifact in its real runtime, the PyTorch reference once."""

from edge_export.evaluate.results import EVAL_NAME, EVAL_SCHEMA, Evaluation, read_evaluation

__all__ = ["EVAL_NAME", "EVAL_SCHEMA", "Evaluation", "evaluate", "read_evaluation"]


def __getattr__(name):
    # evaluate() needs torch and the runtimes; the dashboard and compare only read eval.json
    if name == "evaluate":
        from edge_export.evaluate.run import evaluate

        return evaluate
    raise AttributeError(name)
