"""The registry's side of the job queue, when the registry's PostgreSQL database is also the queue's.

A sweep is enqueued from the API (:func:`enqueue`) and run by ``modelseal worker`` processes, which
record each model version's report in ``sweep_versions``. The registry then lands them (:func:`land`,
from a background thread): a swept version's report becomes a new ``scans`` row of every registry model
version with the same manifest digest (the same bytes), uploaded by ``queue``, exactly as if CI had
uploaded the scan: findings, audit entries, verdicts decided again, webhooks. A swept version that no
registry model version has the digest of stays in ``sweep_versions`` only (the sweep's own results).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from modelseal.server.service import RegistryError
from modelseal.store.models import ModelVersion, Project, SweepVersion

if TYPE_CHECKING:
    from modelseal.api.sweeping import SweepStarted
    from modelseal.core.result import TargetReport
    from modelseal.queue.results import SweepProgress
    from modelseal.server.service import Registry
    from modelseal.server.settings import ServerSettings

log = logging.getLogger("modelseal.server")
LANDED_BY = "queue"
"""``scans.uploaded_by`` of a landed sweep result."""
BATCH = 200

# done and not yet landed; the report only where a registry model version has its manifest digest
# (index 3 of the encoded report, :func:`modelseal.queue.codec.encode_target`). SKIP LOCKED: two
# server processes landing at once share the rows out instead of landing them twice.
_CLAIM = text(
    "SELECT v.id, CASE WHEN EXISTS (SELECT 1 FROM model_versions m WHERE m.digest = v.report->>3)"
    " THEN v.report END AS report FROM sweep_versions v WHERE v.status = 'done' AND NOT v.landed"
    " ORDER BY v.id LIMIT :n FOR UPDATE SKIP LOCKED"
)


def queue_url(settings: ServerSettings) -> str:
    """The registry's database URL when it serves as the queue; 409 when this registry has none."""
    url = settings.database_url or ""
    if not settings.queue or not url.startswith(("postgresql", "postgres")):
        raise RegistryError(
            409, "this registry has no job queue (serve on PostgreSQL with MODELSEAL_QUEUE=1)"
        )
    return url


def enqueue(registry: Registry, mirror: str, priority: str, actor: str) -> SweepStarted:
    """Enqueue every snapshot of ``mirror`` (a folder on the workers' file system), audited."""
    from modelseal.api.sweeping import SweepRequest, sweep
    from modelseal.core.errors import ModelsealError

    url = queue_url(registry.settings)
    try:
        started = sweep(SweepRequest(Path(mirror), url, priority))
    except ModelsealError as exc:
        raise RegistryError(422, str(exc), "$.mirror") from None
    with registry.session() as session:
        event = {"sweep": started.sweep, "mirror": mirror, "priority": priority, "actor": actor}
        registry.commit(session, [("sweep", event | {"versions": started.versions})])
    return started


def progress(registry: Registry, sweep_id: str) -> SweepProgress:
    from modelseal.api.sweeping import sweep_progress
    from modelseal.core.errors import ConfigError

    try:
        return sweep_progress(queue_url(registry.settings), sweep_id)
    except ConfigError as exc:
        raise RegistryError(404, str(exc)) from None


def land(registry: Registry) -> int:
    """Land every finished swept version not landed yet; how many scans rows were added."""
    landed = 0
    while True:
        with registry.session() as session:
            rows = session.execute(_CLAIM, {"n": BATCH}).all()
            if not rows:
                return landed
            session.execute(
                update(SweepVersion).where(SweepVersion.id.in_([r.id for r in rows])).values(landed=True)
            )
            reports = [_decoded(r.report) for r in rows if r.report is not None]
            try:
                landed += _upload(registry, session, reports)
            except RegistryError as exc:  # never again: the claim is kept, the reason logged
                session.rollback()
                log.error("swept versions %s not landed: %s", [r.id for r in rows], exc.message)
                _mark(registry, [r.id for r in rows])
            session.commit()


def _decoded(values: object) -> TargetReport:
    from modelseal.queue.codec import decode_target

    return decode_target(json.loads(values) if isinstance(values, str) else values)  # type: ignore[arg-type]


def _upload(registry: Registry, session: Session, targets: list[TargetReport]) -> int:
    """One upload per project holding any of the targets' digests (its own transaction each)."""
    from modelseal import __version__
    from modelseal.core.result import ScanResult
    from modelseal.reports import ReportOptions, get_writer

    digests = {t.manifest_digest for t in targets}
    owners: dict[int, list[TargetReport]] = defaultdict(list)
    for model in session.scalars(select(ModelVersion).where(ModelVersion.digest.in_(digests))):
        owners[model.project_id] += [t for t in targets if t.manifest_digest == model.digest]
    writer = get_writer("json", ReportOptions())
    for project_id, found in owners.items():
        project = session.get(Project, project_id)
        assert project is not None
        document = json.loads(writer.render(ScanResult(tuple(found), __version__, 0.0)))
        registry.upload_report(session, project, document, LANDED_BY)
    return sum(len(found) for found in owners.values())


def _mark(registry: Registry, ids: list[int]) -> None:
    with registry.session() as session:
        session.execute(update(SweepVersion).where(SweepVersion.id.in_(ids)).values(landed=True))
        session.commit()
