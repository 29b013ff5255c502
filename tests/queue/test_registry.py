"""The registry and the queue on one PostgreSQL database: a sweep enqueued through the API, run by a real
worker, lands as scans of the registry's model versions with the same bytes (once); the daily
re-verification sweeps recent mirrors again at background priority."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from modelseal.api import scan
from modelseal.api.registry import create_token
from modelseal.api.sweeping import SweepRequest, sweep
from modelseal.queue import PRIORITIES
from modelseal.queue.app import reverify_recent
from modelseal.queue.db import connect
from modelseal.reports import ReportOptions, get_writer
from modelseal.server.app import create_app
from modelseal.server.settings import ServerSettings
from modelseal.server.sweeps import LANDED_BY, land
from tests.queue.conftest import Workers, query, wait_until
from tests.queue.mirror import build_mirror


def test_sweep_from_the_api_lands_as_scans_of_the_registrys_versions_once(
    tmp_path: Path, queue_url: str, workers: Workers
) -> None:
    mirror = build_mirror(tmp_path, 4, malicious=1)
    (bad,) = mirror.malicious
    known = [s for s in mirror.snapshots if bad.replace("/", "--") in str(s)]
    known.append(next(s for s in mirror.snapshots if s not in known))
    settings = ServerSettings(
        database_url=queue_url, audit_log=tmp_path / "audit.sqlite", background=False, queue=True
    )
    with TestClient(create_app(settings)) as client:
        token = create_token("team", "admin", queue_url)
        auth = {"Authorization": f"Bearer {token}"}
        local = json.loads(get_writer("json", ReportOptions()).render(scan(known, digests=True)))
        uploaded = client.post("/api/v1/projects/team/scans", json=local, headers=auth)
        assert uploaded.status_code == 201, uploaded.text
        started = client.post("/api/v1/sweeps", json={"mirror": str(mirror.root)}, headers=auth)
        assert started.status_code == 202, started.text
        assert started.json()["versions"] == 4
        sweep_id = started.json()["sweep"]
        workers.start("--concurrency", "2")

        def finished() -> bool:
            state = client.get(f"/api/v1/sweeps/{sweep_id}", headers=auth).json()
            return bool(state["finished"])

        wait_until(finished, what="the sweep")
        registry = client.app.state.registry  # type: ignore[attr-defined]
        assert land(registry) == 2  # the two versions the registry knows; the other two stay sweep results
        assert land(registry) == 0  # landed once
        rows = query(
            queue_url,
            "SELECT m.digest, s.uploaded_by, s.finding_count FROM scans s"
            " JOIN model_versions m ON m.id = s.model_version_id ORDER BY s.id",
        )
        assert [r["uploaded_by"] for r in rows[2:]] == [LANDED_BY, LANDED_BY]
        by_source: dict[str, list[int]] = {}
        for r in rows:
            by_source.setdefault(r["digest"], []).append(r["finding_count"])
        # the swept report of the same bytes finds what the uploaded local scan found
        assert all(local_count == swept for local_count, swept in by_source.values())
        assert max(max(counts) for counts in by_source.values()) > 0
        models = client.get("/api/v1/projects/team/models", headers=auth).json()
        assert sorted(m["verdict"] for m in models) == ["allow", "block"]
        assert client.get("/api/v1/sweeps/nope", headers=auth).status_code == 404


def test_a_registry_without_a_queue_refuses_sweeps(tmp_path: Path, queue_url: str) -> None:
    settings = ServerSettings(database_url=queue_url, audit_log=tmp_path / "audit.sqlite", background=False)
    with TestClient(create_app(settings)) as client:
        auth = {"Authorization": f"Bearer {create_token('team', 'admin', queue_url)}"}
        answer = client.post("/api/v1/sweeps", json={"mirror": str(tmp_path)}, headers=auth)
        assert answer.status_code == 409
        uploader = {"Authorization": f"Bearer {create_token('team', 'uploader', queue_url)}"}
        assert client.post("/api/v1/sweeps", json={"mirror": "x"}, headers=uploader).status_code == 403


def test_daily_reverification_sweeps_recent_mirrors_again_in_the_background(
    tmp_path: Path, queue_url: str
) -> None:
    recent = build_mirror(tmp_path, 3, malicious=0, salt=1)
    old = build_mirror(tmp_path, 2, malicious=0, salt=2)
    first = sweep(SweepRequest(recent.root, queue_url, "ci"))
    stale = sweep(SweepRequest(old.root, queue_url, "user"))
    mirrors: list[str] = []

    def again(url: str, mirror: str, config: dict[str, object]) -> None:
        mirrors.append(mirror)
        sweep(SweepRequest(Path(mirror), url, "background"))

    with connect(queue_url) as conn:
        conn.execute(
            "UPDATE sweeps SET created_at = now() - interval '40 days' WHERE id = %s", (stale.sweep,)
        )
        assert asyncio.run(reverify_recent(queue_url, lambda: contextlib.nullcontext(conn), 30, again)) == 1
    assert mirrors == [str(recent.root.resolve())]
    rows = query(queue_url, "SELECT id, mirror, priority FROM sweeps ORDER BY created_at")
    assert len(rows) == 3 and rows[-1]["id"] not in (first.sweep, stale.sweep)
    assert rows[-1]["mirror"] == mirrors[0] and rows[-1]["priority"] == PRIORITIES["background"]
    versions = query(
        queue_url,
        "SELECT priority FROM procrastinate_jobs WHERE task_name = 'modelseal.assemble_version'"
        " AND (args->>'version')::int IN (SELECT id FROM sweep_versions WHERE sweep_id = %s)",
        rows[-1]["id"],
    )
    assert [v["priority"] for v in versions] == [PRIORITIES["background"] - 1] * 3


def test_the_reverification_task_is_daily_and_in_the_background() -> None:
    from procrastinate import App, testing

    from modelseal.queue.app import REVERIFY_TASK, WorkerSettings, register_tasks

    app = App(connector=testing.InMemoryConnector())
    register_tasks(app, "postgresql://x/y", WorkerSettings(), None, print, contextlib.nullcontext)  # type: ignore[arg-type]
    (periodic,) = app.periodic_registry.periodic_tasks.values()
    assert (
        periodic.task.name == REVERIFY_TASK and periodic.cron == WorkerSettings().reverify_cron == "0 3 * * *"
    )
    assert periodic.task.priority == PRIORITIES["background"] < PRIORITIES["user"] < PRIORITIES["ci"]
