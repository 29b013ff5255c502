"""Webhooks (HMAC-signed) on new findings and changed verdicts, and the daily job that decides again."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from modelseal.api import create_token
from modelseal.server.app import create_app
from modelseal.server.settings import ServerSettings
from modelseal.store.models import WaiverRow
from tests.server.conftest import admin_login, scan_report


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, Any], str, bytes]]]]:
    got: list[tuple[dict[str, Any], str, bytes]] = []
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((json.loads(body), self.headers["X-Modelseal-Signature"], body))
            self.send_response(204)
            self.end_headers()
            done.set()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()


def _wait(got: list[Any], n: int) -> None:
    import time

    for _ in range(100):
        if len(got) >= n:
            return
        time.sleep(0.05)


def test_webhooks_are_signed_and_sent_on_changes(
    settings: ServerSettings, receiver: Any, tmp_path: Path
) -> None:
    url, got = receiver
    hooked = ServerSettings(
        database_url=settings.database_url,
        audit_log=settings.audit_log,
        background=False,
        webhook_url=url,
        webhook_secret="s3cret",
    )
    with TestClient(create_app(hooked)) as client:
        headers = {"Authorization": f"Bearer {create_token('p', 'uploader', settings.database_url)}"}
        report = scan_report(tmp_path / "m")
        model = client.post("/api/v1/projects/p/scans", json=report, headers=headers).json()["models"][0]
        _wait(got, 1)
        event, signature, body = got[0]
        assert event["event"] == "new-findings" and event["data"]["digest"] == model["digest"]
        assert signature == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        csrf = admin_login(client)
        for rule in {f["rule_id"] for f in report["findings"]}:
            client.post(
                f"/models/{model['id']}/waivers",
                data={
                    "rule": rule,
                    "justification": "fixture",
                    "expires": str(date.today() + timedelta(days=1)),
                    "csrf": csrf,
                },
            )
        assert (
            client.get("/api/v1/gate", params={"digest": model["digest"]}, headers=headers).json()["verdict"]
            == "allow"
        )
        _wait(got, 2)
        assert any(e["event"] == "verdict-changed" and e["data"]["verdict"] == "allow" for e, _, _ in got)

        # the daily job: the waiver has expired, the verdict goes back to block and is announced
        registry = client.app.state.registry  # type: ignore[attr-defined]
        with registry.session() as session:
            session.execute(update(WaiverRow).values(expires=date.today() - timedelta(days=1)))
            session.commit()
        before = len(got)
        changed = registry.reverify()
        assert changed["models_changed"] == 0 and changed["verdicts_changed"] >= 1
        _wait(got, before + changed["verdicts_changed"])
        dev = [e for e, _, _ in got[before:] if e["data"]["environment"] == "dev"]
        assert dev and dev[0]["event"] == "verdict-changed" and dev[0]["data"]["verdict"] == "block"
