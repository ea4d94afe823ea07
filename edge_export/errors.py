"""Errors a user can act on.

Every error raised for bad input is an `EdgeExportError`: its message is one line that names the
problem and the fix, and the CLI turns it into exit code 2 without a traceback.
"""


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (its type name when empty), cut to `limit` characters: what a
    one-line error can quote of a library's multi-line failure."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


class EdgeExportError(Exception):
    """Bad input or an unusable environment; the message says what to change."""

    exit_code = 2


class ExportFailed(EdgeExportError):
    """A backend refused or broke while producing an artifact."""

    exit_code = 1


class ValidationFailed(EdgeExportError):
    """An artifact ran, but its outputs differ from the PyTorch reference beyond tolerance."""

    exit_code = 1
