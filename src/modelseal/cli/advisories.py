"""``modelseal advisories sync | check | status``: fill the local advisory cache, check models and loader
libraries against it, say how old it is.

Exit codes: 0 nothing at or above ``--fail-on``, 1 findings at or above it, 2 error (a rejected feed
included: the previous cache is kept), 4 usage.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from modelseal.cli.errors import error_exit
from modelseal.core.errors import ModelsealError

if TYPE_CHECKING:
    from modelseal.advisories.cache import CacheStatus
    from modelseal.core.findings import Finding

app = typer.Typer(
    help="Known-bad models and vulnerable loader libraries (OSV advisories).", no_args_is_help=True
)

CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache", help="Advisory cache (SQLite). Default: MODELSEAL_ADVISORY_CACHE or the user cache."
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Configuration file (default: found from here upwards).")
]


def _status_document(status: CacheStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    age = status.age_days()
    return {
        "path": str(status.path),
        "synced_at": status.synced_at.isoformat() if status.synced_at else None,
        "age_days": None if age is None else round(age, 3),
        "active": status.active,
        "withdrawn": status.withdrawn,
        "generation": status.generation,
        "sources": list(status.sources),
    }


def finding_lines(findings: Sequence[Finding]) -> list[str]:
    """One line per finding: severity, rule, where, message (text output and stderr notes)."""
    return [
        f"{f.severity.label.upper():8} {f.rule_id}{f' [{f.file}]' if f.file else ''}: {f.message}"
        for f in findings
    ]


@app.command("sync")
def sync_command(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="FEED...", help="OSV feeds: http(s) URLs, JSON files, zips (PyPI/all.zip), folders."
        ),
    ],
    cache: CacheOpt = None,
    allow_mass_withdrawal: Annotated[
        bool,
        typer.Option("--allow-mass-withdrawal", help="Accept a sync that withdraws most active advisories."),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Merge the feeds into the local cache in one transaction; a bad record rejects the sync (exit 2)."""
    from modelseal.api.advisories import SyncRequest, sync
    from modelseal.core.config import load_config

    try:
        report = sync(SyncRequest(tuple(sources), cache, allow_mass_withdrawal, load_config(config)))
    except ModelsealError as exc:
        raise error_exit(exc) from None
    typer.echo(
        f"synced {report.read} records from {len(report.sources)} source(s): {report.added} added, "
        f"{report.updated} updated ({report.withdrawn} withdrawn); {report.active} active advisories, "
        f"generation {report.generation}, at {report.synced_at}"
    )


@app.command("check")
def check_command(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TARGET]...", help="Models: folders, files, cache snapshots, hf://org/name@rev."
        ),
    ] = None,
    environment: Annotated[
        bool, typer.Option("--environment", help="Check the loader libraries installed here.")
    ] = False,
    site_packages: Annotated[
        list[Path] | None,
        typer.Option("--site-packages", help="Check the loader libraries installed in this folder instead."),
    ] = None,
    requirements: Annotated[
        list[Path] | None,
        typer.Option("--requirements", "-r", help="Requirements or lock file whose pins are checked."),
    ] = None,
    code: Annotated[
        list[Path] | None,
        typer.Option("--code", help="Source tree whose torch.load(weights_only=True) calls are linked."),
    ] = None,
    osv_api: Annotated[
        str | None,
        typer.Option("--osv-api", help="Also ask this OSV API about the packages (https://api.osv.dev)."),
    ] = None,
    fail_on: Annotated[str, typer.Option("--fail-on", help="Exit 1 at this severity or worse.")] = "high",
    output_format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    cache: CacheOpt = None,
    config: ConfigOpt = None,
    offline: Annotated[bool, typer.Option("--offline", help="hf:// only: never the network.")] = False,
) -> None:
    """Check models by digest and loader libraries by version against the advisory cache."""
    from modelseal.api.advisories import CheckRequest, check
    from modelseal.core.config import load_config
    from modelseal.core.findings import Severity

    if output_format not in ("text", "json"):
        typer.echo("usage: --format is text or json", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        threshold = Severity.parse(fail_on)
    except ValueError as exc:
        typer.echo(f"usage: --fail-on: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    request = CheckRequest(
        tuple(targets or ()),
        environment,
        tuple(site_packages or ()),
        tuple(requirements or ()),
        tuple(code or ()),
        osv_api,
        cache,
        load_config(config),
        offline,
    )
    try:
        result = check(request)
    except ModelsealError as exc:
        raise error_exit(exc) from None
    if output_format == "json":
        doc = {
            "cache": _status_document(result.status),
            "packages": [{"name": p.name, "version": p.version, "where": p.where} for p in result.packages],
            "findings": [
                {
                    "rule": f.rule_id,
                    "severity": f.severity.label,
                    "file": f.file,
                    "message": f.message,
                    "evidence": f.evidence,
                }
                for f in result.findings
            ],
        }
        typer.echo(json.dumps(doc, indent=2))
    else:
        for line in finding_lines(result.findings) or ["no advisory findings"]:
            typer.echo(line)
    failed = any(f.severity >= threshold for f in result.findings)
    raise typer.Exit(EXIT_FINDINGS if failed else EXIT_OK)


@app.command("status")
def status_command(cache: CacheOpt = None, config: ConfigOpt = None) -> None:
    """Where the cache is, when it was synced, how many advisories it holds (exit 2 when there is none)."""
    from modelseal.api.advisories import AdvisorySettings
    from modelseal.core.config import load_config

    try:
        opened = AdvisorySettings.from_config(load_config(config), cache).open()
    except ModelsealError as exc:
        raise error_exit(exc) from None
    if opened is None:
        typer.echo("no advisory cache yet: run `modelseal advisories sync SOURCE...`", err=True)
        raise typer.Exit(EXIT_ERROR)
    with opened:
        typer.echo(json.dumps(_status_document(opened.status()), indent=2))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="advisories")
