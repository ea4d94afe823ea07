"""The `edge-export` Typer application that every command module adds itself to, and the console script's
entry point."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Export, validate and profile vision models for edge runtimes.")


def main() -> None:
    from edge_export import interrupt

    interrupt.install()  # Ctrl-C / SIGTERM: exit 130 / 143 with no staging dir left (edge_export/interrupt.py)
    app()
