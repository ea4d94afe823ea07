"""SwiftFormer: the paper variants in both attention forms, their checkpoint formats and export form."""

from edge_export.models.swiftformer import zoo  # noqa: F401  (registration)
