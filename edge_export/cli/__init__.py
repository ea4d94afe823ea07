"""`edge-export`: the command line, at the edge of the package (no library module imports it).

One module per command group, each adding its commands to `edge_export.cli.app.app`; the console
script is `edge_export.cli:main`. Every command is a thin layer over the Python API: parse, call,
render with rich; bad input is one line and exit code 2.
"""

from __future__ import annotations

# Commands register on import, in the order `edge-export --help` lists them.
from edge_export.cli import models  # noqa: F401,I001
from edge_export.cli import export  # noqa: F401
from edge_export.cli import evaluate  # noqa: F401
from edge_export.cli import sensitivity  # noqa: F401
from edge_export.cli import profile  # noqa: F401
from edge_export.cli import coverage  # noqa: F401
from edge_export.cli import qnn  # noqa: F401
from edge_export.cli import arm  # noqa: F401
from edge_export.cli import android  # noqa: F401
from edge_export.cli import doctor  # noqa: F401
from edge_export.cli.app import app, main

__all__ = ["app", "main"]
