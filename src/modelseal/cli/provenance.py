"""Commands of the provenance area: ``bom`` (CycloneDX / SPDX bills of materials) and ``names``."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK

if TYPE_CHECKING:
    from modelseal.core.findings import Finding
    from modelseal.provenance.config import ProvenanceConfig


class BomFormat(str, enum.Enum):
    cyclonedx = "cyclonedx"
    spdx = "spdx"


class NamesFormat(str, enum.Enum):
    text = "text"
    json = "json"


_INTERNAL_HELP = "File of internal names: one org/name, name or org/* per line."
_CONFIG_HELP = "Configuration file (default: modelseal.toml or pyproject.toml found from here upwards)."


def _config(path: Path | None) -> ProvenanceConfig:
    from modelseal.provenance.config import ProvenanceConfig

    return ProvenanceConfig.load(path)


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
        str, typer.Argument(help="Model folder or file (a Hugging Face cache snapshot is recognised).")
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
) -> None:
    """Write a CycloneDX 1.6 ML-BOM or an SPDX 3.0.1 AI/Dataset BOM; card problems go to stderr (exit 1)."""
    from modelseal import __version__
    from modelseal.core.config import load_config
    from modelseal.core.errors import ModelsealError
    from modelseal.provenance.config import ProvenanceConfig
    from modelseal.provenance.facts import collect

    try:
        settings = load_config(config)
        facts = collect(
            model,
            model_id=model_id,
            revision=revision,
            config=ProvenanceConfig.from_config(settings),
            limits=settings.limits,
        )
    except (ModelsealError, OSError) as exc:
        raise _fail(str(exc)) from exc
    if format is BomFormat.cyclonedx:
        from modelseal.provenance.bom_cyclonedx import cyclonedx_json

        text = cyclonedx_json(facts, __version__)
    else:
        from modelseal.provenance.bom_spdx import spdx_json

        text = spdx_json(facts, __version__)
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"{output}: cannot write: {exc.strerror}") from exc
    _report(facts.findings)
    raise typer.Exit(EXIT_FINDINGS if facts.findings else EXIT_OK)


def names(
    ids: Annotated[list[str], typer.Argument(help="Hub ids to check (org/name).")],
    internal: Annotated[Path | None, typer.Option("--internal", help=_INTERNAL_HELP)] = None,
    config: Annotated[Path | None, typer.Option("--config", help=_CONFIG_HELP)] = None,
    format: Annotated[NamesFormat, typer.Option("--format", "-f", help="Report format.")] = NamesFormat.text,
) -> None:
    """Flag look-alikes of well-known models and collisions with internal names (exit 1 if any)."""
    from modelseal.core.errors import ModelsealError
    from modelseal.provenance.names import InternalNames, check_names

    try:
        settings = _config(config)
        declared = settings.internal.merged(InternalNames.load(internal)) if internal else settings.internal
        verdicts = check_names(ids, declared, settings.catalogue())
        reputation = settings.reputation()
    except ModelsealError as exc:
        raise _fail(str(exc)) from exc
    if format is NamesFormat.json:
        rows = [
            {
                "id": v.model_id,
                "verdict": v.verdict,
                "publisher_tier": reputation.tier_of(v.model_id).tier,
                "findings": [
                    {"rule_id": f.rule_id, "severity": f.severity.label, "message": f.message}
                    for f in v.findings
                ],
            }
            for v in verdicts
        ]
        typer.echo(json.dumps(rows, indent=2))
    else:
        for v in verdicts:
            tier = reputation.tier_of(v.model_id).tier
            reason = "; ".join(f"{f.rule_id}: {f.message}" for f in v.findings)
            typer.echo(f"{v.verdict:10} tier {tier}  {v.model_id}" + (f"  ({reason})" if reason else ""))
    raise typer.Exit(EXIT_FINDINGS if any(v.suspicious for v in verdicts) else EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("bom")(bom)
    app.command("names")(names)
