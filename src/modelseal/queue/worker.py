"""``modelseal worker``: run queue jobs until stopped, surviving database restarts and dead peers.

One procrastinate worker runs ``concurrency`` jobs at a time, each scan in its own slot process
(:mod:`modelseal.queue.slots`). SIGTERM or SIGINT stops fetching and lets the running jobs finish. When the
database goes away the worker reconnects with backoff; jobs it held are then retried (their results are
recorded once whatever happens: ``ON CONFLICT DO NOTHING``). Every worker also looks for the jobs of workers
that stopped sending heartbeats (killed, machine lost) and retries them, or records them failed once they
used up their attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import signal
from collections.abc import Callable
from typing import Any

from modelseal.core.extras import require
from modelseal.queue.app import (
    BLOB_TASK,
    WorkerSettings,
    build_app,
    record_failure,
    register_tasks,
)
from modelseal.queue.db import FEATURE, prepare, results_conninfo
from modelseal.queue.slots import Handler, Slots

log = logging.getLogger("modelseal.worker")


def run_worker(
    url: str,
    settings: WorkerSettings,
    handler: Handler,
    reverify: Callable[[str, str, dict[str, Any]], None],
    *,
    preload: list[str],
) -> None:
    """Serve until SIGTERM/SIGINT (running jobs finish first)."""
    require("queue", "procrastinate", "psycopg", feature=FEATURE)
    asyncio.run(_serve(url, settings, handler, reverify, preload))


async def _serve(
    url: str,
    settings: WorkerSettings,
    handler: Handler,
    reverify: Callable[[str, str, dict[str, Any]], None],
    preload: list[str],
) -> None:
    from procrastinate.worker import Worker

    stopping = asyncio.Event()
    current: list[Worker] = []

    def stop() -> None:
        stopping.set()
        for worker in current:
            worker.stop()  # type: ignore[no-untyped-call]

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    slots = Slots(
        settings.concurrency,
        handler,
        memory_mb=settings.memory_mb,
        preload=preload,
    )
    wait = 0.5
    try:
        while not stopping.is_set():
            try:
                await asyncio.to_thread(prepare, url)
                app = build_app(url, worker=True)
                pool = _pool(url, settings.concurrency + 2)
                register_tasks(app, url, settings, slots, reverify, pool.connection)
                async with app.open_async():
                    worker = Worker(
                        app,
                        concurrency=settings.concurrency,
                        install_signal_handlers=False,
                        fetch_job_polling_interval=settings.poll,
                        update_heartbeat_interval=settings.heartbeat,
                        stalled_worker_timeout=settings.stalled_after,
                        delete_jobs="never" if settings.keep_jobs else "successful",
                    )
                    current[:] = [worker]
                    recovery = asyncio.create_task(_recover(app, url, settings))
                    try:
                        await worker.run()  # type: ignore[no-untyped-call]
                    finally:
                        recovery.cancel()
                        current.clear()
                        pool.close()
                wait = 0.5
            except Exception as exc:  # the database went away or refused us: try again, a little later
                log.warning(
                    "queue unavailable (%s: %s); reconnecting in %.1f s", type(exc).__name__, exc, wait
                )
            if not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), wait)
                wait = min(wait * 2, 30.0)
    finally:
        slots.close()


def _pool(url: str, size: int) -> Any:
    """The worker's own connections (verdicts, reports: durable commits), checked before each use: a
    database restart costs a reconnect, not a failed job."""
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    return ConnectionPool(
        results_conninfo(url),
        min_size=1,
        max_size=size,
        kwargs={"autocommit": True, "row_factory": dict_row},
        check=ConnectionPool.check_connection,
        open=True,
    )


async def _recover(app: object, url: str, settings: WorkerSettings) -> None:
    """Retry the running jobs of workers whose heartbeat stopped; past the last attempt, record the
    content failed (the reason: its workers kept dying on it) and close the job."""
    from procrastinate import App
    from procrastinate.jobs import Status

    assert isinstance(app, App)
    manager = app.job_manager
    while True:
        await asyncio.sleep(settings.heartbeat)
        try:
            stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=settings.stalled_after))
        except Exception:  # the database is away; the worker's own loop reconnects
            continue
        for job in stalled:
            attempt = job.attempts + 1
            try:
                if job.task_name == BLOB_TASK and attempt >= settings.attempts:
                    reason = f"its worker stopped without answering (killed or crashed), {attempt} times"
                    await asyncio.to_thread(record_failure, url, dict(job.task_kwargs), reason, attempt)
                    await manager.finish_job(job, status=Status.FAILED, delete_job=False)
                else:
                    when = datetime.datetime.now(datetime.timezone.utc)
                    await manager.retry_job(
                        job, retry_at=when + datetime.timedelta(seconds=settings.backoff**attempt)
                    )
                log.warning("job %s of a stalled worker: attempt %d recovered", job.id, attempt)
            except Exception as exc:  # another worker recovered it first
                log.debug("stalled job %s: %s", job.id, exc)
