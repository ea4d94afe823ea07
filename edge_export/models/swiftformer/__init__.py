"""SwiftFormer: the paper variants in both attention forms, their checkpoint formats and export form."""

from edge_export.models.swiftformer import export_form, zoo  # noqa: F401  (families and ids register)
