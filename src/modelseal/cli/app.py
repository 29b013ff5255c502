"""Entry point. Each command group lives in its own module and registers itself here.

Exit codes are a contract shared by every command: 0 pass, 1 findings/violations, 2 error,
3 nothing to scan (``gate``: review needed), 4 usage error.
"""

from __future__ import annotations

import sys

import typer

from modelseal.cli import behavior, gate, integrity, provenance, sandbox
from modelseal.cli import scan as scan_cmd

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
EXIT_NOTHING = 3
EXIT_USAGE = 4

app = typer.Typer(
    name="modelseal",
    help="Decide whether a model is safe to load, prove where it came from, and gate its deployment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (scan_cmd, integrity, provenance, gate, behavior, sandbox):
    module.register(app)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from modelseal import __version__

        typer.echo(f"modelseal {__version__}")
        raise typer.Exit(EXIT_OK)


def main() -> None:
    """Run the CLI; click's usage errors (exit 2) become exit 4 so that 2 always means a scan error."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        code = EXIT_ERROR
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # typer's click: usage errors carry exit code 2
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        code = EXIT_USAGE if getattr(exc, "exit_code", 1) == 2 else EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)
