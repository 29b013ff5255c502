"""Entry point. Each command group lives in its own module and registers itself here.

Only the group of the command being run is imported (typer inspects every registered command at start-up);
``--help`` without a command registers them all. ``modelseal scan``, whose start-up is a budget, does not
import typer at all: its module parses its own flags (see :mod:`modelseal.cli.scan`).

Exit codes are shared by every command (:mod:`modelseal.cli`).
"""

from __future__ import annotations

import gc
import os
import sys
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

from modelseal.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from modelseal.core.errors import MissingExtra

# Command group module -> the top-level commands it registers (a test keeps this true).
AREAS: dict[str, tuple[str, ...]] = {
    "scan": ("scan",),
    "integrity": ("sign", "verify", "lock"),
    "provenance": ("bom", "names"),
    "gate": ("gate", "inventory", "reverify", "audit"),
    "behavior": ("inspect", "inspect-data"),
    "sandbox": ("sandbox",),
    "advisories": ("advisories",),
    "runtime": ("diff-behavior", "sanitize", "monitor", "canary"),
    "server": ("serve", "admin", "upload"),
    "queue": ("worker", "sweep"),
}


def _print_version(value: bool) -> None:
    import typer

    if value:
        from modelseal import __version__

        typer.echo(f"modelseal {__version__}")
        raise typer.Exit(EXIT_OK)


def build_app(command: str | None = None) -> typer.Typer:
    """The CLI with the group of ``command`` registered, or every group when it names none of them."""
    import typer

    def root(
        version: bool = typer.Option(
            False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ) -> None:
        """Options that apply before any command."""

    app = typer.Typer(
        name="modelseal",
        help="Decide whether a model is safe to load, prove where it came from, and gate its deployment.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(root)
    areas = [area for area, commands in AREAS.items() if command in commands] or list(AREAS)
    for area in areas:
        import_module(f"modelseal.cli.{area}").register(app)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole CLI, for tests and for tools that introspect it
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Run the CLI and exit with its code (``SystemExit``, for tests and embedding)."""
    sys.exit(run(sys.argv[1:]))


def console() -> None:
    """The ``modelseal`` console script: :func:`main`, except that ``scan`` leaves without the interpreter's
    teardown once its output is flushed (as mypy does): freeing every module and object costs about as much
    as scanning a small file, and a finished scan holds nothing that needs closing."""
    args = sys.argv[1:]
    if args[:1] == ["scan"]:
        # Start-up creates tens of thousands of long-lived objects (modules, classes, functions) and no
        # garbage cycles; with the default threshold the collector walks them again and again (~5 % of a
        # small scan's instructions). A larger young generation, as mypy uses, still bounds memory.
        gc.set_threshold(50_000, 20, 20)
    code = run(args)
    if args[:1] != ["scan"]:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # the reader left: the report was not delivered
        code = EXIT_ERROR
    os._exit(code)


def run(args: list[str]) -> int:
    """The exit code of one command line; click's usage errors (exit 2) become exit 4 so that 2 always
    means a scan error."""
    if args[:1] == ["scan"]:
        from modelseal.cli.scan import main as scan

        return scan(args[1:])
    import typer

    command = next((arg for arg in args if not arg.startswith("-")), None)
    try:
        code = build_app(command)(args, standalone_mode=False)
    except typer.Abort:
        code = EXIT_ERROR
    except typer.Exit as exc:
        code = exc.exit_code
    except MissingExtra as exc:  # an optional library is not installed: one line naming its extra
        print(f"modelseal: {exc}", file=sys.stderr)
        code = EXIT_ERROR
    except typer.TyperException as exc:  # typer's click: usage errors carry exit code 2
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        code = EXIT_USAGE if getattr(exc, "exit_code", 1) == 2 else EXIT_ERROR
    return code if isinstance(code, int) else EXIT_OK
