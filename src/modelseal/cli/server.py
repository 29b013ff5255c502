"""``modelseal serve``, ``admin token create`` and ``upload``: the registry's command line.

``serve`` starts uvicorn on the app factory by name, so the CLI never imports the service's code (extra
``server``); the rest talk to :mod:`modelseal.api` (the database directly, or the registry over HTTP).
Exit codes: 0 done, 2 error, 4 usage.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from modelseal.cli import EXIT_ERROR, EXIT_USAGE
from modelseal.cli.errors import error_exit
from modelseal.core.errors import ModelsealError

ROLES = ("viewer", "uploader", "reviewer", "admin")
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Default: MODELSEAL_DATABASE_URL, else SQLite in the user data folder."
    ),
]
ServerOpt = Annotated[str, typer.Option("--server", help="The registry's base URL (http://host:port).")]
ProjectOpt = Annotated[str, typer.Option("--project", help="The registry project.")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="API token; default: MODELSEAL_TOKEN.")]


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8470,
    database_url: DatabaseOpt = None,
    init_admin: Annotated[
        bool, typer.Option("--init-admin", help="Create the admin user (or reset its password) and print it.")
    ] = False,
    migrate_only: Annotated[bool, typer.Option("--migrate-only", help="Apply migrations and exit.")] = False,
    audit_log: Annotated[
        Path | None,
        typer.Option("--audit-log", help="The service's audit log (default: in the data folder)."),
    ] = None,
    policy: Annotated[Path | None, typer.Option("--policy", help="Policy file the verdicts use.")] = None,
    reverify: Annotated[
        list[str], typer.Option("--reverify", help="Folder of deployed models to re-verify daily.")
    ] = [],  # noqa: B006
    workers: Annotated[int, typer.Option("--workers", help="Server processes (one audit log, shared).")] = 1,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Mark the session cookie Secure (behind TLS).")
    ] = False,
) -> None:
    """Run the registry: REST API (/api/v1, /docs) and dashboard. Needs the `server` extra."""
    from modelseal.api import migrate_database

    try:
        url = migrate_database(database_url)
    except ModuleNotFoundError as exc:
        typer.echo(f"error: {exc.name} is missing: pip install 'modelseal[server]'", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    except Exception as exc:
        typer.echo(f"error: cannot prepare the database: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    if migrate_only:
        typer.echo(f"database is at the current schema: {url.split('@')[-1]}")
        return
    import uvicorn

    from modelseal.api import bootstrap_admin

    try:
        password = bootstrap_admin(url, audit_log, reset=init_admin)
    except ModelsealError as exc:
        raise error_exit(exc) from None
    if password is not None:
        typer.echo(f"admin user 'admin', one-time password: {password}", err=True)

    os.environ["MODELSEAL_DATABASE_URL"] = url
    settings = {
        "MODELSEAL_SERVER_AUDIT_LOG": str(audit_log) if audit_log else "",
        "MODELSEAL_POLICY": str(policy) if policy else os.environ.get("MODELSEAL_POLICY", ""),
        "MODELSEAL_REVERIFY_PATHS": os.pathsep.join(reverify),
        "MODELSEAL_SECURE_COOKIES": "1" if secure_cookies else "",
    }
    os.environ.update({k: v for k, v in settings.items() if v})
    uvicorn.run(
        "modelseal.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


def token_create_command(
    project: ProjectOpt,
    role: Annotated[str, typer.Option("--role", help="viewer, uploader, reviewer or admin.")] = "uploader",
    database_url: DatabaseOpt = None,
) -> None:
    """Print a new API token for a project (created if new), working on the database directly."""
    from modelseal.api import create_token

    if role not in ROLES:
        typer.echo(f"usage: --role is one of {', '.join(ROLES)}", err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(create_token(project, role, database_url))


def upload_command(
    report: Annotated[Path, typer.Argument(help="A scan report: modelseal scan --format json.")],
    server: ServerOpt,
    project: ProjectOpt,
    token: TokenOpt = None,
    pictures: Annotated[
        list[Path],
        typer.Option(
            "--picture",
            help="A PNG from modelseal inspect to show with the model (repeatable; one-model reports).",
        ),
    ] = [],  # noqa: B006
) -> None:
    """Upload a scan report to the registry; prints each model's digest and verdict."""
    from modelseal.api.remote import upload, upload_picture

    try:
        answer = upload(server, project, report.read_bytes(), token)
        print_upload(answer)
        models = answer.get("models") or []
        if pictures and len(models) != 1:
            typer.echo("error: --picture needs a report of exactly one model", err=True)
            raise typer.Exit(EXIT_ERROR)
        for picture in pictures:
            upload_picture(server, project, models[0]["digest"], picture.name, picture.read_bytes(), token)
            typer.echo(f"picture  {picture.name}")
    except OSError as exc:
        typer.echo(f"error: cannot read {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    except ModelsealError as exc:
        raise error_exit(exc) from None


def print_upload(answer: dict[str, object]) -> None:
    models = answer.get("models")
    for model in models if isinstance(models, list) else []:
        typer.echo(f"{model['verdict'] or '-':6} {model['digest']}  {model['name']}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.command("upload")(upload_command)
    admin = typer.Typer(help="Administer the registry's database.", no_args_is_help=True)
    token = typer.Typer(help="API tokens.", no_args_is_help=True)
    token.command("create")(token_create_command)
    admin.add_typer(token, name="token")
    app.add_typer(admin, name="admin")
