"""The queue's database: procrastinate's schema and the results tables (the registry's Alembic chain)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelseal.core.extras import require

if TYPE_CHECKING:
    import psycopg

_SETUP_LOCK = 0x6D73_7173  # "msqs": one process at a time creates the schema
FEATURE = "the job queue (--queue)"
_HINT = "check --queue (postgresql://user@host/database) and that the PostgreSQL server is up"


def conninfo(url: str) -> str:
    """A libpq URL from the registry's spelling (``postgresql+psycopg://``) or a plain one."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith(("postgresql", "postgres")):
        from modelseal.core.errors import SourceError

        raise SourceError(f"--queue {url!r}: expected a postgresql:// URL", hint=_HINT)
    return f"postgresql://{rest}"


def worker_conninfo(url: str) -> str:
    """The connections of a worker's job bookkeeping (fetch, heartbeat, finish, retry): they commit
    without waiting for the disk (``synchronous_commit=off``). A PostgreSQL crash may lose their last
    commits, in order; a job whose fetch or finish is lost runs again, which redoes nothing because its
    verdict or report was committed durably first (:func:`results_conninfo`). It saves a disk flush per job
    state change.

    They also plan every statement afresh (``plan_cache_mode=force_custom_plan``). The job table swings
    from empty to millions of rows within a sweep, and the job fetch runs inside a PL/pgSQL function, whose
    plans a session caches: a worker that started on an empty queue kept a plan that took minutes per
    fetch once 20 000 jobs waited (four workers, 10 000 snapshots); planned afresh, a fetch takes
    milliseconds."""
    from psycopg.conninfo import make_conninfo

    options = "-c synchronous_commit=off -c plan_cache_mode=force_custom_plan"
    return make_conninfo(conninfo(url), options=options)


def results_conninfo(url: str) -> str:
    """The connections that write verdicts and reports: each commit is on disk before it returns
    (``synchronous_commit=local``, whatever the server's default). The job's finish comes after it and may
    be lost; the result may not. Were both asynchronous, a crash right after the result's commit lost the
    result while the finish, sent once the server was back, was kept: the job read succeeded, its version
    stayed pending and the sweep never ended."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(conninfo(url), options="-c synchronous_commit=local")


def connect(url: str, *, results: bool = False) -> psycopg.Connection[dict[str, object]]:
    """A connection in autocommit; ``results``: one that writes verdicts or reports
    (:func:`results_conninfo`)."""
    require("queue", "psycopg", feature=FEATURE)
    import psycopg
    from psycopg.rows import dict_row

    info = results_conninfo(url) if results else conninfo(url)
    try:
        return psycopg.connect(info, autocommit=True, row_factory=dict_row)
    except psycopg.OperationalError as exc:
        from modelseal.core.errors import SourceError

        raise SourceError(f"cannot reach the queue's database: {exc}", hint=_HINT) from None


def prepare(url: str) -> None:
    """Create procrastinate's schema and bring the results tables up to date (idempotent, serialised)."""
    require("queue", "procrastinate", "psycopg", "sqlalchemy", "alembic", feature=FEATURE)
    from procrastinate.schema import SchemaManager

    from modelseal.store.db import make_engine, migrate

    with connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
        try:
            present = conn.execute("SELECT to_regclass('procrastinate_jobs') AS t").fetchone()
            if present is None or present["t"] is None:
                conn.execute(SchemaManager.get_schema())  # type: ignore[arg-type]
            engine = make_engine(url)
            try:
                migrate(engine)
            finally:
                engine.dispose()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
