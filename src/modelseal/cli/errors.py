"""Errors as every typer command shows them: the error and what to do next on one line of stderr, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from modelseal.cli import EXIT_ERROR
from modelseal.core.errors import ModelsealError


def error_exit(exc: ModelsealError) -> typer.Exit:
    """Print ``exc`` on one line and return the exit (2) for the caller to raise."""
    typer.echo(f"error: {exc.one_line()}", err=True)
    return typer.Exit(EXIT_ERROR)


@contextmanager
def errors_exit() -> Iterator[None]:
    """A command's work whose errors end it (exit 2), never as a pass."""
    try:
        yield
    except ModelsealError as exc:
        raise error_exit(exc) from None
