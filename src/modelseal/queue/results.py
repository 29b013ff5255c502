"""Reading and writing the queue's results: file verdicts (each recorded once), sweeps, model versions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    Conn = psycopg.Connection[dict[str, Any]]


def _json(value: object) -> object:
    from psycopg.types.json import Json

    return Json(value)


def verdicts(conn: Conn, keys: Sequence[str]) -> dict[str, list[Any]]:
    """The recorded outcome (JSON) of each of ``keys`` that has one."""
    rows = conn.execute("SELECT key, outcome FROM blob_verdicts WHERE key = ANY(%s)", (list(keys),))
    return {row["key"]: row["outcome"] for row in rows}


def record_verdict(
    conn: Conn,
    key: str,
    content: str,
    config: str,
    outcome: list[Any],
    *,
    failed: str = "",
    attempts: int = 1,
) -> bool:
    """Record one content's verdict unless one is already there (two workers racing record it once);
    ``failed`` is the reason every attempt failed. Whether this call recorded it."""
    from modelseal import __version__

    inserted = conn.execute(
        "INSERT INTO blob_verdicts (key, content, scanner_version, config_digest, status, outcome, reason,"
        " attempts, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now()) ON CONFLICT (key) DO NOTHING",
        (key, content, __version__, config, "failed" if failed else "done", _json(outcome), failed, attempts),
    )
    return inserted.rowcount == 1


@dataclass(frozen=True)
class NewSweep:
    id: str
    mirror: str
    priority: int
    config: dict[str, Any]
    blobs_total: int
    blobs_enqueued: int
    bytes_total: int
    bytes_enqueued: int


def create_sweep(conn: Conn, sweep: NewSweep, versions: Sequence[tuple[str, str, str]]) -> list[int]:
    """Insert a sweep and its (model, revision, snapshot) versions, pending; the versions' ids."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO sweeps (id, mirror, priority, config, blobs_total, blobs_enqueued, bytes_total,"
            " bytes_enqueued, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())",
            (
                sweep.id,
                sweep.mirror,
                sweep.priority,
                _json(sweep.config),
                sweep.blobs_total,
                sweep.blobs_enqueued,
                sweep.bytes_total,
                sweep.bytes_enqueued,
            ),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO sweep_versions (sweep_id, model, revision, snapshot, status, failed)"
                " VALUES (%s, %s, %s, %s, 'pending', false) RETURNING id",
                [(sweep.id, *v) for v in versions],
                returning=True,
            )
            ids = []
            while True:
                row = cur.fetchone()
                assert row is not None
                ids.append(int(row["id"]))
                if not cur.nextset():
                    break
    return ids


def stranded_scans(conn: Conn, task: str, keys: Sequence[str]) -> list[tuple[dict[str, Any], int]]:
    """The ``task`` jobs of ``keys`` that ended failed without a verdict and wait for no retry: each one's
    arguments and how often it was retried (procrastinate's ``attempts``; one job per content). Nothing will
    judge those contents any more. The first query, run at every assembly still waiting for a content,
    reads only procrastinate's indexes of live jobs; the failed jobs are looked for only when a content has
    neither a live job nor a verdict."""
    idle = conn.execute(
        "SELECT k FROM unnest(%s::text[]) AS k"
        " WHERE NOT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE queueing_lock = k AND status = 'todo')"
        " AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE lock = k AND status = 'doing')"
        " AND NOT EXISTS (SELECT 1 FROM blob_verdicts b WHERE b.key = k)",
        (list(keys),),
    ).fetchall()
    if not idle:
        return []
    rows = conn.execute(
        "SELECT DISTINCT ON (lock) args, attempts FROM procrastinate_jobs"
        " WHERE task_name = %s AND lock = ANY(%s) AND status = 'failed' ORDER BY lock, id DESC",
        (task, [row["k"] for row in idle]),
    ).fetchall()
    return [(row["args"], int(row["attempts"])) for row in rows]


def pending_verdicts(conn: Conn, version: int, keys: Sequence[str]) -> dict[str, list[Any]] | None:
    """The recorded outcomes of ``keys`` while ``version`` is pending, in one round trip; None once it
    is done (another assembly stored it)."""
    rows = conn.execute(
        "SELECT b.key, b.outcome FROM sweep_versions v LEFT JOIN blob_verdicts b ON b.key = ANY(%s)"
        " WHERE v.id = %s AND v.status = 'pending'",
        (list(keys), version),
    ).fetchall()
    return {row["key"]: row["outcome"] for row in rows if row["key"] is not None} if rows else None


def finish_version(conn: Conn, version: int, report: list[Any], worst: int | None, failed: bool) -> bool:
    """Store a version's report once (a second assembly of it changes nothing); whether this call did."""
    done = conn.execute(
        "UPDATE sweep_versions SET status = 'done', report = %s, worst = %s, failed = %s, finished_at = now()"
        " WHERE id = %s AND status = 'pending'",
        (_json(report), worst, failed, version),
    )
    return done.rowcount == 1


@dataclass(frozen=True)
class SweepProgress:
    """A sweep as it stands: what the CLI's progress view and ``--wait`` show."""

    sweep: str
    total: int
    done: int
    flagged: int
    """Done versions with a finding at or above the threshold asked about."""
    failed: int
    """Done versions with a file no worker could scan."""
    seconds: float
    blobs_total: int
    blobs_enqueued: int
    bytes_total: int
    bytes_enqueued: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


def progress(conn: Conn, sweep: str, threshold: int) -> SweepProgress:
    row = conn.execute(
        "SELECT count(*) AS total, count(*) FILTER (WHERE v.status = 'done') AS done,"
        " count(*) FILTER (WHERE v.worst >= %s) AS flagged, count(*) FILTER (WHERE v.failed) AS failed,"
        " extract(epoch FROM now() - s.created_at) AS seconds, s.blobs_total, s.blobs_enqueued,"
        " s.bytes_total, s.bytes_enqueued"
        " FROM sweeps s LEFT JOIN sweep_versions v ON v.sweep_id = s.id WHERE s.id = %s GROUP BY s.id",
        (threshold, sweep),
    ).fetchone()
    if row is None:
        from modelseal.core.errors import ConfigError

        raise ConfigError(f"no sweep {sweep!r} in this queue's database")
    return SweepProgress(
        sweep,
        int(row["total"]),
        int(row["done"]),
        int(row["flagged"]),
        int(row["failed"]),
        float(row["seconds"]),
        int(row["blobs_total"]),
        int(row["blobs_enqueued"]),
        int(row["bytes_total"]),
        int(row["bytes_enqueued"]),
    )


def reports(conn: Conn, sweep: str) -> list[list[Any]]:
    """The assembled reports of a sweep's versions, in model and revision order."""
    rows = conn.execute(
        "SELECT report FROM sweep_versions WHERE sweep_id = %s AND status = 'done' ORDER BY model, revision",
        (sweep,),
    )
    return [row["report"] for row in rows]


def recent_mirrors(conn: Conn, days: int) -> list[tuple[str, dict[str, Any]]]:
    """Mirrors swept in the last ``days`` days, each with the configuration of its latest sweep: what the
    daily re-verification sweeps again."""
    rows = conn.execute(
        "SELECT DISTINCT ON (mirror) mirror, config FROM sweeps"
        " WHERE created_at > now() - make_interval(days => %s) ORDER BY mirror, created_at DESC",
        (days,),
    )
    return [(row["mirror"], row["config"]) for row in rows]
