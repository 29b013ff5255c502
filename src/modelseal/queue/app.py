"""The procrastinate application: task names, the jobs a sweep or a scan defers, and what workers run.

Three tasks: ``scan_blob`` (one content, in a slot, retried with backoff, recorded failed with its reason
after the last attempt), ``assemble_version`` (a model version's report from its files' verdicts, after
they are in; a content whose scan job ended without one is recorded failed then), and a periodic
``reverify`` that sweeps recently swept mirrors again at background priority.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelseal.core.findings import Severity
from modelseal.core.result import TargetReport
from modelseal.core.rules import make_finding
from modelseal.parallel import encode_outcome
from modelseal.queue import PRIORITIES
from modelseal.queue.codec import encode_target
from modelseal.queue.db import connect, conninfo, worker_conninfo
from modelseal.queue.results import (
    finish_version,
    pending_verdicts,
    recent_mirrors,
    record_verdict,
    stranded_scans,
    verdicts,
)

if TYPE_CHECKING:
    from procrastinate import App, JobContext

    from modelseal.queue.results import Conn

from modelseal.queue.slots import SlotFailure, Slots

QUEUE = "modelseal"
BLOB_TASK = "modelseal.scan_blob"
VERSION_TASK = "modelseal.assemble_version"
REVERIFY_TASK = "modelseal.reverify"
ASSEMBLY_SECONDS = 120.0
"""At least this long for assembling a version (it reads only metadata, but a cold process imports)."""


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker runs its jobs; ``modelseal worker``'s options."""

    concurrency: int = 1
    attempts: int = 3
    """Tries per content before its verdict is recorded failed (crash, hang, kill)."""
    backoff: int = 2
    """Retry *n* waits ``backoff ** n`` whole seconds (hub rate limits, a restarting database)."""
    job_timeout: float = 600.0
    memory_mb: int = 8192
    """Address-space limit of each scanning process; 0: none."""
    heartbeat: float = 5.0
    stalled_after: float = 30.0
    """A worker silent this long is presumed dead; its running jobs are retried by the others."""
    poll: float = 1.0
    reverify_cron: str = "0 3 * * *"
    reverify_days: int = 30
    keep_jobs: bool = False
    """Keep finished jobs (and their events) in procrastinate's tables; by default a successful job is
    deleted, its verdict being the record (millions of versions would otherwise fill the database)."""


def build_app(url: str, *, worker: bool = False) -> App:
    """The application on ``url``; a ``worker``'s commits do not wait for the disk (see
    :func:`~modelseal.queue.db.worker_conninfo`)."""
    from procrastinate import App, PsycopgConnector

    return App(connector=PsycopgConnector(conninfo=worker_conninfo(url) if worker else conninfo(url)))


def blob_job(key: str, priority: int, payload: dict[str, Any]) -> Any:
    """A ``scan_blob`` job: the content's key is both its queueing lock (one waiting job per content) and
    its lock (one worker at a time on it)."""
    from procrastinate.jobs import Job

    return Job(
        id=None,
        queue=QUEUE,
        priority=priority,
        lock=key,
        queueing_lock=key,
        task_name=BLOB_TASK,
        task_kwargs=payload,
    )


def version_job(priority: int, payload: dict[str, Any], delay: float = 0.0) -> Any:
    """An ``assemble_version`` job, just below its contents' priority so it usually finds them done."""
    import datetime

    from procrastinate.jobs import Job

    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delay)
    return Job(
        id=None,
        queue=QUEUE,
        priority=priority - 1,
        lock=None,
        queueing_lock=f"version:{payload['version']}",
        task_name=VERSION_TASK,
        task_kwargs=payload,
        scheduled_at=when if delay else None,
    )


_RAISE_PRIORITY = (
    "UPDATE procrastinate_jobs SET priority = %(priority)s"
    " WHERE queueing_lock = %(lock)s AND status = 'todo' AND priority < %(priority)s"
)


async def defer(app: App, jobs: Sequence[Any]) -> int:
    """Defer ``jobs`` in batches. One whose queueing lock is taken (the same content already waiting) is
    not deferred again, but the waiting job is raised to its priority: a CI request never waits behind the
    background re-verification that happened to ask first. How many were deferred."""
    from procrastinate.exceptions import AlreadyEnqueued

    deferred = 0
    for start in range(0, len(jobs), 500):
        batch = list(jobs[start : start + 500])
        try:
            await app.job_manager.batch_defer_jobs_async(batch)
            deferred += len(batch)
        except AlreadyEnqueued:
            for job in batch:
                try:
                    await app.job_manager.defer_job_async(job)
                    deferred += 1
                except AlreadyEnqueued:
                    await app.connector.execute_query_async(
                        _RAISE_PRIORITY, priority=job.priority, lock=job.queueing_lock
                    )
    return deferred


def failed_outcome(reason: str) -> list[Any]:
    """The recorded outcome of a content no attempt could scan: fail closed."""
    finding = make_finding("MS-SCANNER-ERROR", f"not scanned: {reason}")
    return encode_outcome(("unscanned", [finding], 0.0, None, ()))


def attempt_of(context: JobContext) -> int:
    return (context.job.attempts if context.job else 0) + 1


def unassembled(snapshot: str, reason: str) -> list[Any]:
    """The report of a version no attempt could assemble: one finding saying why (fail closed)."""
    finding = make_finding("MS-SCANNER-ERROR", f"the model version could not be assembled: {reason}")
    return encode_target(TargetReport(snapshot, snapshot, (), None, (finding,)))


def record_failure(url: str, payload: dict[str, Any], reason: str, attempts: int) -> None:
    with connect(url, results=True) as conn:
        _record_failed(conn, payload, reason, attempts)


def _record_failed(conn: Conn, payload: dict[str, Any], reason: str, attempts: int) -> None:
    """The verdict of a content (``payload``: its ``scan_blob`` arguments) no attempt could scan."""
    record_verdict(
        conn,
        payload["key"],
        payload["content"],
        payload["config_digest"],
        failed_outcome(reason),
        failed=reason,
        attempts=attempts,
    )


STRANDED = (
    "its scan job failed without recording a verdict (an error outside the scan on its last attempt, such "
    "as the database going away)"
)


def settle_stranded(conn: Conn, keys: Sequence[str]) -> int:
    """Record failed (fail closed) the contents among ``keys`` whose scan job ended without a verdict, so
    that whatever waits for their verdicts (a version's assembly, ``scan --queue``) does not wait for ever;
    how many."""
    stranded = stranded_scans(conn, BLOB_TASK, keys)
    for payload, retries in stranded:
        _record_failed(conn, payload, STRANDED, retries + 1)
    return len(stranded)


def register_tasks(
    app: App,
    url: str,
    settings: WorkerSettings,
    slots: Slots,
    reverify: Callable[[str, str, dict[str, Any]], None],
    connection: Callable[[], AbstractContextManager[Conn]],
) -> None:
    """What this worker runs: every scan and assembly in ``slots``; ``reverify(url, mirror, config)``
    sweeps a mirror again; ``connection()`` lends one of the worker's pooled database connections, whose
    commits are durable (:func:`~modelseal.queue.db.results_conninfo`)."""
    from procrastinate import RetryStrategy

    retry = RetryStrategy(max_attempts=max(0, settings.attempts - 1), exponential_wait=settings.backoff)

    @app.task(name=BLOB_TASK, queue=QUEUE, pass_context=True, retry=retry)
    async def scan_blob(context: JobContext, /, **payload: Any) -> None:
        attempt = attempt_of(context)

        def known() -> bool:
            with connection() as conn:
                return bool(verdicts(conn, [payload["key"]]))

        if await asyncio.to_thread(known):  # another job judged these bytes meanwhile
            return
        try:
            outcome = await slots.call("scan", payload, settings.job_timeout)
        except SlotFailure as exc:
            if attempt >= settings.attempts:
                await asyncio.to_thread(record_failure, url, payload, f"{exc} (attempt {attempt})", attempt)
            raise

        def record() -> None:
            with connection() as conn:
                record_verdict(
                    conn,
                    payload["key"],
                    payload["content"],
                    payload["config_digest"],
                    outcome,
                    attempts=attempt,
                )

        await asyncio.to_thread(record)

    @app.task(name=VERSION_TASK, queue=QUEUE, pass_context=True, retry=retry)
    async def assemble_version(context: JobContext, /, **payload: Any) -> None:
        version = int(payload["version"])
        keys = set(payload["files"].values())

        def look() -> dict[str, list[Any]] | None:
            with connection() as conn:
                found = pending_verdicts(conn, version, list(keys))
                missing = [] if found is None else list(keys - found.keys())
                if missing and settle_stranded(conn, missing):
                    found = pending_verdicts(conn, version, list(keys))
                return found

        found = await asyncio.to_thread(look)
        if found is None:
            return
        if len(found) < len(keys):  # its contents are not all judged yet: later
            await defer(app, [version_job(int(payload["priority"]), payload, delay=settings.poll)])
            return
        failed = any(outcome[0] == "unscanned" for outcome in found.values())
        try:
            timeout = max(settings.job_timeout, ASSEMBLY_SECONDS)  # metadata only, but cold imports
            report, worst = await slots.call("assemble", {**payload, "verdicts": found}, timeout)
        except SlotFailure as exc:
            if attempt_of(context) < settings.attempts:
                raise
            report, worst, failed = unassembled(payload["snapshot"], str(exc)), int(Severity.HIGH), True

        def store() -> None:
            with connection() as conn:
                finish_version(conn, version, report, worst, failed)

        await asyncio.to_thread(store)

    @app.periodic(cron=settings.reverify_cron)
    @app.task(name=REVERIFY_TASK, queue=QUEUE, priority=PRIORITIES["background"])
    async def reverify_mirrors(timestamp: int) -> None:
        await reverify_recent(url, connection, settings.reverify_days, reverify)


async def reverify_recent(
    url: str,
    connection: Callable[[], AbstractContextManager[Conn]],
    days: int,
    reverify: Callable[[str, str, dict[str, Any]], None],
) -> int:
    """The daily task: sweep again every mirror swept in the last ``days`` days (``reverify`` enqueues at
    background priority). A new scanner version or configuration makes new keys, so only contents judged
    under old ones are scanned again; the rest is assembled from verdicts. How many mirrors."""

    def mirrors() -> list[tuple[str, dict[str, Any]]]:
        with connection() as conn:
            return recent_mirrors(conn, days)

    found = await asyncio.to_thread(mirrors)
    for mirror, config in found:
        await asyncio.to_thread(reverify, url, mirror, config)
    return len(found)
