"""The coverage matrix (`edge-export coverage`, `make coverage`): many models x every CPU target, exported,
validated and timed in one run, as JSON + markdown, with the SwiftFormer paper's comparison beside it."""

from edge_export.coverage.models import DEFAULT, QUICK, QUICK_TARGETS, Entry, resolve
from edge_export.coverage.run import default_targets, run_coverage

__all__ = ["DEFAULT", "QUICK", "QUICK_TARGETS", "Entry", "default_targets", "resolve", "run_coverage"]
