"""Roles, project scope, the bypass permission, CSRF, and the audit log behind every state change."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from modelseal.api import create_token
from modelseal.server.settings import ServerSettings
from tests.server.conftest import admin_login, login, scan_report


def _uploaded(
    client: TestClient, settings: ServerSettings, tmp_path: Path, project: str = "a"
) -> tuple[int, str, dict[str, str]]:
    headers = {"Authorization": f"Bearer {create_token(project, 'uploader', settings.database_url)}"}
    report = scan_report(tmp_path / f"model-{project}")
    answer = client.post(f"/api/v1/projects/{project}/scans", json=report, headers=headers).json()
    return answer["models"][0]["id"], answer["models"][0]["digest"], headers


def _user(client: TestClient, csrf: str, name: str, role: str, bypass: bool = False) -> None:
    data = {"username": name, "password": "correct horse battery", "role": role, "csrf": csrf}
    if bypass:
        data["can_bypass"] = "true"
    assert client.post("/admin/users", data=data, follow_redirects=False).status_code == 303


def test_viewer_cannot_approve(client: TestClient, settings: ServerSettings, tmp_path: Path) -> None:
    model_id, _, _ = _uploaded(client, settings, tmp_path)
    _user(client, admin_login(client), "vic", "viewer")
    csrf = login(client, "vic", "correct horse battery")
    form = {"environment": "staging", "decision": "approve", "justification": "looks fine", "csrf": csrf}
    assert client.post(f"/models/{model_id}/review", data=form).status_code == 403
    waiver = {
        "rule": "MS-PICKLE-DANGEROUS-CALL",
        "expires": str(date.today() + timedelta(days=3)),
        "justification": "x",
        "csrf": csrf,
    }
    assert client.post(f"/models/{model_id}/waivers", data=waiver).status_code == 403
    assert client.get(f"/models/{model_id}").status_code == 200  # but may read


def test_token_for_project_a_cannot_touch_project_b(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    _, digest_b, _ = _uploaded(client, settings, tmp_path, "b")
    token_a = {"Authorization": f"Bearer {create_token('a', 'admin', settings.database_url)}"}
    assert client.get("/api/v1/projects/b/models", headers=token_a).status_code == 403
    assert (
        client.post("/api/v1/projects/b/scans", json=scan_report(tmp_path / "x"), headers=token_a).status_code
        == 403
    )
    assert client.get("/api/v1/gate", params={"digest": digest_b}, headers=token_a).status_code == 404
    viewer_b = {"Authorization": f"Bearer {create_token('b', 'viewer', settings.database_url)}"}
    assert (
        client.post(
            "/api/v1/projects/b/scans", json=scan_report(tmp_path / "y"), headers=viewer_b
        ).status_code
        == 403
    )


def test_bypass_needs_its_own_permission(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    model_id, digest, headers = _uploaded(client, settings, tmp_path)
    csrf = admin_login(client)
    _user(client, csrf, "rev", "reviewer")
    _user(client, csrf, "oncall", "reviewer", bypass=True)
    form = {"environment": "dev", "reason": "outage", "expires": str(date.today())}
    login(client, "rev", "correct horse battery")
    csrf_rev = login(client, "rev", "correct horse battery")
    assert client.post(f"/models/{model_id}/bypass", data=form | {"csrf": csrf_rev}).status_code == 403
    assert client.post(f"/api/v1/models/{model_id}/bypass", json=form, headers=headers).status_code == 403
    assert client.get("/api/v1/gate", params={"digest": digest}, headers=headers).json()["verdict"] == "block"
    csrf_oncall = login(client, "oncall", "correct horse battery")
    assert client.post(f"/models/{model_id}/bypass", data=form | {"csrf": "forged"}).status_code == 403
    response = client.post(
        f"/models/{model_id}/bypass", data=form | {"csrf": csrf_oncall}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get("/api/v1/gate", params={"digest": digest}, headers=headers).json()["verdict"] == "allow"


def _audit_verify(settings: ServerSettings) -> subprocess.CompletedProcess[str]:
    code = "from modelseal.cli.app import main; main()"
    assert settings.database_url is not None
    args = [
        "audit",
        "verify",
        "--database-url",
        settings.database_url,
        "--audit-log",
        str(settings.audit_path()),
    ]
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": "src", "PATH": "/usr/bin:/bin"},
    )


def _sql(settings: ServerSettings, statement: str) -> list[Any]:
    """Run SQL on the registry's database, as someone with access to it (not through the service)."""
    from sqlalchemy import create_engine, text

    from modelseal.store.db import database_url

    engine = create_engine(database_url(settings.database_url))
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def test_every_change_is_audited_and_an_edit_shows(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    model_id, _, _ = _uploaded(client, settings, tmp_path)
    csrf = admin_login(client)
    expiry = str(date.today() + timedelta(days=30))
    client.post(
        f"/models/{model_id}/analysis",
        data={
            "rule_id": "MS-PICKLE-DANGEROUS-CALL",
            "file": "model.pkl",
            "state": "false_positive",
            "justification": "test fixture",
            "csrf": csrf,
        },
    )
    client.post(
        f"/models/{model_id}/waivers",
        data={
            "rule": "MS-PICKLE-DANGEROUS-CALL",
            "expires": expiry,
            "justification": "test fixture",
            "csrf": csrf,
        },
    )
    client.post(
        f"/models/{model_id}/review",
        data={"environment": "prod", "decision": "reject", "justification": "not for prod", "csrf": csrf},
    )
    records = [json.loads(r[0]) for r in _sql(settings, "SELECT record FROM audit_entries ORDER BY idx")]
    kinds = [r["kind"] for r in records]
    for kind in ("upload", "verdict", "user", "analysis", "waiver", "review"):
        assert kind in kinds
    assert not settings.audit_path().exists()  # the entries live in the registry's database
    first = _audit_verify(settings)
    assert first.returncode == 0, first.stdout + first.stderr
    _sql(
        settings,
        "UPDATE audit_entries SET record = replace(record, 'test fixture', 'edited') "
        "WHERE record LIKE '%waiver%'",
    )
    edited = _audit_verify(settings)
    assert edited.returncode != 0
    assert "edited" in edited.stdout
    page = client.get("/audit")
    assert "Verification FAILED" in page.text
    # a damaged log refuses new entries: the change is rolled back, not recorded unaudited
    refused = client.post(
        f"/models/{model_id}/review",
        data={"environment": "prod", "decision": "approve", "justification": "after the edit", "csrf": csrf},
    )
    assert refused.status_code == 503
    assert not _sql(settings, "SELECT id FROM reviews WHERE justification = 'after the edit'")


def test_a_truncated_log_shows_by_its_witness(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    """Whoever can delete rows cannot hide the tail: the witness file beside the key still commits to it."""
    _uploaded(client, settings, tmp_path)
    assert _audit_verify(settings).returncode == 0
    size = len(_sql(settings, "SELECT idx FROM audit_entries"))
    _sql(settings, f"DELETE FROM audit_entries WHERE idx = {size - 1}")
    _sql(settings, f"DELETE FROM audit_checkpoints WHERE size = {size}")
    cut = _audit_verify(settings)
    assert cut.returncode != 0
    assert "truncated" in cut.stdout


def test_a_file_log_from_before_stays_and_blocks_nothing(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    """A registry that kept its log in a file (with its witness beside the same key) starts a log in the
    database: the old witness does not read as a cut-short database log, and the old file still verifies."""
    from modelseal.api.gating import open_verified_log

    with open_verified_log(settings.audit_path()) as old:  # the file log an earlier version wrote
        old.append("upload", {"project": "a", "actor": "before"})
        old.append("verdict", {"project": "a", "verdict": "block"})
    _uploaded(client, settings, tmp_path)
    assert _audit_verify(settings).returncode == 0
    code = "from modelseal.cli.app import main; main()"
    file_check = subprocess.run(
        [sys.executable, "-c", code, "audit", "verify", "--audit-log", str(settings.audit_path())],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": "src", "PATH": "/usr/bin:/bin"},
    )
    assert file_check.returncode == 0, file_check.stdout + file_check.stderr
    assert "2 entries" in file_check.stdout
