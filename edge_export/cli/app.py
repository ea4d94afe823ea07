"""The `edge-export` Typer application that every command module adds itself to, and the console script's
entry point."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperCommand


class _QuietCommand(TyperCommand):
    """Sends library output to a log once the command runs: after parsing, so `--help` and usage errors
    still reach the terminal (edge_export/cli/output.py). Only in the console script's own process: a test's
    CliRunner or a notebook calling `app` keeps its streams."""

    quiet = False  # set by main()

    def invoke(self, ctx):
        if self.quiet and not ctx.find_root().params.get("verbose"):
            from edge_export.cli.output import redirect_library_output

            redirect_library_output()
        return super().invoke(ctx)


class QuietTyper(typer.Typer):
    """typer.Typer whose commands are `_QuietCommand`s: use it for every command group of the CLI."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or _QuietCommand, **kwargs)


app = QuietTyper(add_completion=False, no_args_is_help=True,
                 help="Export, validate and profile vision models for edge runtimes.")


@app.callback()
def _options(verbose: bool = typer.Option(False, "--verbose", "-v", help="stream the libraries' output to the "
                                          "terminal instead of a log file")) -> None:
    """Options of every command (read by `_QuietCommand`)."""


def main() -> None:
    from edge_export import interrupt

    interrupt.install()  # Ctrl-C / SIGTERM: exit 130 / 143 with no staging dir left (edge_export/interrupt.py)
    _QuietCommand.quiet = True
    try:
        app()
    except SystemExit as e:
        from edge_export.cli.output import note_exit

        note_exit(e.code)
        raise
    except Exception as e:  # a bug, not bad input: one line on the terminal, the traceback in the log
        from edge_export.cli.output import report_crash

        report_crash(e)
        sys.exit(1)
