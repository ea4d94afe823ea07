"""The `edge-export` Typer application that every command module adds itself to."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Export, validate and profile vision models for edge runtimes.")
