"""Where the database is, and bringing it to the current schema with Alembic."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

ENV_URL = "MODELSEAL_DATABASE_URL"
MIGRATIONS = Path(__file__).with_name("migrations")


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("modelseal", appauthor=False))


def audit_log_path(path: Path | None = None) -> Path:
    """The service's audit log: ``path``, else ``MODELSEAL_AUDIT_LOG``, else beside the default database."""
    if path is not None:
        return path
    env = os.environ.get("MODELSEAL_AUDIT_LOG")
    return Path(env) if env else data_dir() / "registry-audit.sqlite"


def database_url(url: str | None = None) -> str:
    """``url``, else ``MODELSEAL_DATABASE_URL``, else SQLite in the user data folder.
    ``postgresql://`` URLs are given the psycopg 3 driver."""
    url = url or os.environ.get(ENV_URL) or f"sqlite:///{data_dir() / 'registry.sqlite'}"
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn: object, _record: object) -> None:
            cur = conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=40, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Apply every Alembic migration not yet applied (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
