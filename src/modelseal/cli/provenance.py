"""Commands of the provenance area: ``bom`` (CycloneDX / SPDX bills of materials) and ``names``."""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from modelseal.cli.options import CacheDir, Offline
from modelseal.core.errors import ModelsealError

if TYPE_CHECKING:
    from modelseal.core.findings import Finding


class BomFormat(str, enum.Enum):
    cyclonedx = "cyclonedx"
    spdx = "spdx"


class NamesFormat(str, enum.Enum):
    text = "text"
    json = "json"


_INTERNAL_HELP = "File of internal names: one org/name, name or org/* per line."
_CONFIG_HELP = "Configuration file (default: modelseal.toml or pyproject.toml found from here upwards)."


def _report(findings: Sequence[Finding]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, soft_wrap=True)
    for f in findings:
        where = f" [{f.file}]" if f.file else ""
        console.print(escape(f"{f.severity.label.upper():8} {f.rule_id}{where}: {f.message}"))


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_ERROR)


def bom(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL",
            help="Model folder or file, a cache snapshot, hf://org/name@rev or s3://bucket/prefix.",
        ),
    ],
    format: Annotated[
        BomFormat, typer.Option("--format", "-f", help="BOM standard to write.")
    ] = BomFormat.cyclonedx,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    model_id: Annotated[
        str | None, typer.Option("--id", help="Hub id (org/name) when the folder does not say.")
    ] = None,
    revision: Annotated[str | None, typer.Option("--revision", help="Commit the files come from.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help=_CONFIG_HELP)] = None,
    offline: Offline = False,
    cache_dir: CacheDir = None,
) -> None:
    """Write a CycloneDX 1.6 ML-BOM or an SPDX 3.0.1 AI/Dataset BOM; card problems go to stderr (exit 1)."""
    from modelseal.api.provenance import BomRequest
    from modelseal.api.provenance import bom as make_bom
    from modelseal.reports import writer_for

    try:
        result = make_bom(BomRequest(model, model_id, revision, config, offline, cache_dir))
    except ModelsealError as exc:
        raise _fail(exc.one_line()) from exc
    except OSError as exc:
        raise _fail(str(exc)) from exc
    text = writer_for("bom", format.value).render(result.facts)
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"{output}: cannot write: {exc.strerror}") from exc
    _report(result.facts.findings)
    where = "stdout" if output is None else str(output)
    typer.echo(f"wrote the {format.value} BOM of {model} to {where}", err=True)
    raise typer.Exit(EXIT_FINDINGS if result.facts.findings else EXIT_OK)


def names(
    ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Hub ids to check (org/name).")],
    internal: Annotated[Path | None, typer.Option("--internal", help=_INTERNAL_HELP)] = None,
    config: Annotated[Path | None, typer.Option("--config", help=_CONFIG_HELP)] = None,
    format: Annotated[NamesFormat, typer.Option("--format", "-f", help="Report format.")] = NamesFormat.text,
) -> None:
    """Flag look-alikes of well-known models and collisions with internal names (exit 1 if any)."""
    from modelseal.api.provenance import NamesRequest
    from modelseal.api.provenance import names as check
    from modelseal.reports import writer_for

    try:
        result = check(NamesRequest(tuple(ids), internal, config))
    except ModelsealError as exc:
        raise _fail(exc.one_line()) from exc
    writer_for("names", format.value).write(result.rated, sys.stdout)
    raise typer.Exit(EXIT_FINDINGS if result.suspicious else EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("bom")(bom)
    app.command("names")(names)
