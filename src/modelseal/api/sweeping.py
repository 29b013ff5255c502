"""``sweep`` and ``worker``: judging every model version of a hub mirror on the PostgreSQL queue.

A sweep lists the mirror's snapshots (a folder laid out like the Hugging Face cache), keys every file by
content (:mod:`modelseal.queue.keys`), enqueues one job per content not judged yet and one assembly job per
snapshot, and records the sweep; workers do the rest. A version's report is made by the very composition
a local scan uses (:func:`~modelseal.api.scanning.scan_targets`), fed with the stored verdicts, so a swept
version reads like ``modelseal scan`` of its snapshot.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelseal import __version__
from modelseal.api.scanning import context_for, scan_file, scan_targets
from modelseal.core.artifact import FileEntry
from modelseal.core.config import Config, config_from_table
from modelseal.core.findings import Severity
from modelseal.core.result import ScanResult
from modelseal.parallel import encode_outcome
from modelseal.queue import PRIORITIES
from modelseal.queue.app import WorkerSettings
from modelseal.queue.results import SweepProgress

SCANNERS = ["modelseal.api.sweeping", "modelseal.scanners.registry"]
"""Imported once by the workers' fork server, so that each scanning process starts ready."""


@dataclass(frozen=True)
class SweepRequest:
    mirror: Path
    queue: str
    """The database URL (``postgresql://``); the registry's own when it runs on PostgreSQL."""
    priority: str = "user"
    """``ci``, ``user`` or ``background`` (:data:`~modelseal.queue.PRIORITIES`)."""
    config: Config = field(default_factory=Config)


@dataclass(frozen=True)
class SweepStarted:
    sweep: str
    versions: int
    blobs_total: int
    """Distinct contents over every snapshot."""
    blobs_enqueued: int
    """Those without a verdict yet (the others are assembled from what is recorded)."""
    bytes_total: int
    bytes_enqueued: int
    seconds: float


def sweep(request: SweepRequest) -> SweepStarted:
    """Enqueue every snapshot of the mirror. Raises :class:`~modelseal.core.errors.SourceError` when the
    folder is not laid out like a cache, :class:`~modelseal.core.errors.MissingExtra` without ``queue``."""
    import asyncio

    from modelseal.queue.app import blob_job, build_app, defer, version_job
    from modelseal.queue.db import connect, prepare
    from modelseal.queue.executor import blob_payload
    from modelseal.queue.keys import config_digest, content_of, verdict_key
    from modelseal.queue.results import NewSweep, create_sweep, verdicts
    from modelseal.sources.hfcache import mirror_snapshots
    from modelseal.sources.resolve import resolve

    started = time.monotonic()
    if request.priority not in PRIORITIES:
        from modelseal.core.errors import ConfigError

        raise ConfigError(f"priority {request.priority!r}: expected one of {', '.join(PRIORITIES)}")
    priority = PRIORITIES[request.priority]
    listed = mirror_snapshots(request.mirror)
    prepare(request.queue)
    config, digest = request.config, config_digest(request.config.raw)
    snapshots = []
    contents: dict[str, tuple[FileEntry, str]] = {}
    bytes_total = 0
    for snapshot, identity in listed:
        files = resolve(str(snapshot), max_files=config.limits.max_files, offline=True).artifact.files
        keys = {}
        for entry in files:
            content = content_of(entry)
            key = keys[entry.relpath] = verdict_key(content, entry.relpath, digest)
            contents.setdefault(key, (entry, content))
            bytes_total += entry.size
        snapshots.append((identity, snapshot, keys))
    with connect(request.queue) as conn:
        known = verdicts(conn, list(contents))
        new = {key: found for key, found in contents.items() if key not in known}
        record = NewSweep(
            str(uuid.uuid4()),
            str(request.mirror.resolve()),
            priority,
            config.raw,
            len(contents),
            len(new),
            bytes_total,
            sum(entry.size for entry, _ in new.values()),
        )
        ids = create_sweep(
            conn, record, [(i.model_id, i.commit, str(snapshot)) for i, snapshot, _ in snapshots]
        )
    jobs = [blob_job(key, priority, blob_payload(e, c, key, config, digest)) for key, (e, c) in new.items()]
    for version, (_, snapshot, keys) in zip(ids, snapshots, strict=True):
        payload = {
            "version": version,
            "snapshot": str(snapshot),
            "files": keys,
            "config": config.raw,
            "priority": priority,
        }
        jobs.append(version_job(priority, payload))

    async def enqueue() -> None:
        app = build_app(request.queue)
        async with app.open_async():
            await defer(app, jobs)

    asyncio.run(enqueue())
    return SweepStarted(
        record.id,
        len(ids),
        record.blobs_total,
        record.blobs_enqueued,
        record.bytes_total,
        record.bytes_enqueued,
        time.monotonic() - started,
    )


def sweep_progress(queue: str, sweep_id: str, fail_on: Severity = Severity.HIGH) -> SweepProgress:
    """Where a sweep stands; ``flagged`` counts versions with a finding at or above ``fail_on``."""
    from modelseal.queue.db import connect
    from modelseal.queue.results import progress

    with connect(queue) as conn:
        return progress(conn, sweep_id, int(fail_on))


def sweep_report(queue: str, sweep_id: str, seconds: float = 0.0) -> ScanResult:
    """One report over a sweep's assembled versions, one target per version, like a scan's."""
    from modelseal.queue.codec import decode_target
    from modelseal.queue.db import connect
    from modelseal.queue.results import reports

    with connect(queue) as conn:
        targets = tuple(decode_target(values) for values in reports(conn, sweep_id))
    return ScanResult(targets, __version__, seconds)


def queue_executor(queue: str, config: Config, priority: str = "user") -> Any:
    """``scan --queue``: the executor that has the queue's workers scan a scan's files."""
    from modelseal.queue.executor import QueueExecutor

    return QueueExecutor(queue, config, priority=PRIORITIES[priority])


@dataclass(frozen=True)
class WorkerRequest:
    queue: str
    settings: WorkerSettings = field(default_factory=WorkerSettings)


def work(request: WorkerRequest) -> None:
    """Run a worker until SIGTERM or SIGINT; the jobs it is running finish first."""
    from modelseal.queue.worker import run_worker

    run_worker(request.queue, request.settings, run_in_slot, _reverify, preload=SCANNERS)


def _reverify(queue: str, mirror: str, config: dict[str, Any]) -> None:
    sweep(SweepRequest(Path(mirror), queue, "background", config_from_table(config, "the last sweep")))


def run_in_slot(kind: str, payload: dict[str, Any]) -> Any:
    """What a worker's scanning process computes for one job (JSON in, JSON out): a content's outcome
    (``scan``), or a model version's report and worst severity from its files' verdicts (``assemble``)."""
    config = config_from_table(payload["config"], "the queued job")
    if kind == "scan":
        entry = FileEntry(payload["relpath"], Path(payload["path"]), int(payload["size"]))
        began = time.monotonic()
        fmt, findings, digest, imports = scan_file(entry, context_for(config), digest=True)
        return encode_outcome((fmt, findings, time.monotonic() - began, digest, imports))
    from modelseal.queue.codec import encode_target
    from modelseal.queue.executor import KnownVerdicts

    executor = KnownVerdicts(payload["files"], payload["verdicts"])
    result, _ = scan_targets(
        [payload["snapshot"]], config, digests=True, lockfile=False, offline=True, executor=executor
    )
    worst = result.max_severity()
    return [encode_target(result.targets[0]), None if worst is None else int(worst)]


__all__ = [
    "SweepRequest",
    "SweepStarted",
    "WorkerRequest",
    "WorkerSettings",
    "queue_executor",
    "run_in_slot",
    "sweep",
    "sweep_progress",
    "sweep_report",
    "work",
]
