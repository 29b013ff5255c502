"""The review queue for answers the run-time defences held: the API (both databases), the dashboard page
(roles, CSRF, audit), and a serving process's ReviewSink posting to a live registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from modelseal.api import create_token
from modelseal.server.settings import ServerSettings
from tests.server.conftest import admin_login


def _bearer(settings: ServerSettings, project: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(project, role, settings.database_url)}"}


def _item(model: str = "fraud-scorer", **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "reasons": ["low-confidence", "conformal-set"],
        "client": "eve",
        "input": {"type": "array", "shape": [8, 8], "sha256": "ab" * 32},
        "output": {"label": 3, "confidence": 0.41},
    } | extra


def _audit_kinds(client: TestClient) -> list[dict[str, Any]]:
    from sqlalchemy import text

    engine = client.app.state.registry.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT record FROM audit_entries ORDER BY idx")).all()
    return [json.loads(r[0]) for r in rows]


def test_held_items_are_queued_listed_and_decided_once(client: TestClient, settings: ServerSettings) -> None:
    runtime = _bearer(settings, "fraud", "uploader")
    posted = client.post(
        "/api/v1/projects/fraud/held", json={"items": [_item(), _item("other")]}, headers=runtime
    )
    assert posted.status_code == 201, posted.text
    first, second = posted.json()["ids"]
    pending = client.get("/api/v1/held", headers=runtime).json()
    assert [i["id"] for i in pending] == [first, second]
    assert pending[0]["reasons"] == ["low-confidence", "conformal-set"] and pending[0]["client"] == "eve"
    assert pending[0]["state"] == "pending" and pending[0]["project"] == "fraud"
    # the runtime's token may post but not decide; a reviewer's may, once
    assert (
        client.post(
            f"/api/v1/held/{first}/decision", json={"decision": "reject"}, headers=runtime
        ).status_code
        == 403
    )
    reviewer = _bearer(settings, "fraud", "reviewer")
    decided = client.post(
        f"/api/v1/held/{first}/decision", json={"decision": "reject", "note": "a trigger"}, headers=reviewer
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (
        body["state"] == "rejected" and body["note"] == "a trigger" and body["reviewer"].startswith("token:")
    )
    assert body["decided_at"] is not None
    again = client.post(f"/api/v1/held/{first}/decision", json={"decision": "approve"}, headers=reviewer)
    assert again.status_code == 409
    assert [i["id"] for i in client.get("/api/v1/held", headers=reviewer).json()] == [second]
    rejected = client.get("/api/v1/held", params={"state": "rejected"}, headers=reviewer).json()
    assert [i["id"] for i in rejected] == [first]
    # every decision is in the audit log (receipt is not)
    records = _audit_kinds(client)
    decisions = [r for r in records if r["kind"] == "held-decision"]
    assert len(decisions) == 1
    assert decisions[0]["data"]["decision"] == "reject" and decisions[0]["data"]["id"] == first
    assert decisions[0]["data"]["reasons"] == ["low-confidence", "conformal-set"]


def test_held_items_stay_in_their_project_and_bad_batches_are_refused(
    client: TestClient, settings: ServerSettings
) -> None:
    a = _bearer(settings, "a", "uploader")
    b_reviewer = _bearer(settings, "b", "reviewer")
    ids = client.post("/api/v1/projects/a/held", json={"items": [_item()]}, headers=a).json()["ids"]
    assert client.get("/api/v1/held", headers=b_reviewer).json() == []
    assert client.get("/api/v1/held", params={"project": "a"}, headers=b_reviewer).status_code == 403
    assert (
        client.post(
            f"/api/v1/held/{ids[0]}/decision", json={"decision": "approve"}, headers=b_reviewer
        ).status_code
        == 404
    )
    assert (
        client.post("/api/v1/projects/a/held", json={"items": [_item()]}, headers=b_reviewer).status_code
        == 403
    )
    assert client.post("/api/v1/projects/a/held", json={"items": [_item()]}).status_code == 401
    empty = client.post("/api/v1/projects/a/held", json={"items": []}, headers=a)
    assert empty.status_code == 422 and empty.json()["field"] == "$.items"
    no_reason = client.post("/api/v1/projects/a/held", json={"items": [_item(reasons=[])]}, headers=a)
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "$.items.0.reasons"
    too_many = client.post("/api/v1/projects/a/held", json={"items": [_item()] * 101}, headers=a)
    assert too_many.status_code == 422
    huge = client.post(
        "/api/v1/projects/a/held", json={"items": [_item(input={"excerpt": "x" * (2 << 20)})]}, headers=a
    )
    assert huge.status_code == 413
    not_json = client.post("/api/v1/projects/a/held", content=b"\xff", headers=a)
    assert not_json.status_code == 422
    bad = client.post(
        f"/api/v1/held/{ids[0]}/decision",
        json={"decision": "maybe"},
        headers=_bearer(settings, "a", "reviewer"),
    )
    assert bad.status_code == 422


def test_the_page_lists_pending_items_and_reviewers_decide_there(
    client: TestClient, settings: ServerSettings
) -> None:
    runtime = _bearer(settings, "fraud", "uploader")
    hostile = "<script>window.__pwned=1</script>"
    ids = client.post(
        "/api/v1/projects/fraud/held", json={"items": [_item(client=hostile), _item()]}, headers=runtime
    ).json()["ids"]
    csrf = admin_login(client)
    page = client.get("/held")
    assert page.status_code == 200
    assert f'id="held-{ids[0]}"' in page.text and f'id="held-{ids[1]}"' in page.text
    assert hostile not in page.text and "&lt;script&gt;" in page.text
    assert f'action="/held/{ids[0]}/decision"' in page.text
    # a form without the session's CSRF token changes nothing
    forged = client.post(f"/held/{ids[0]}/decision", data={"decision": "approve"}, follow_redirects=False)
    assert forged.status_code == 403
    # and the API, called with the session's cookie, wants the token as a header
    assert client.post(f"/api/v1/held/{ids[0]}/decision", json={"decision": "approve"}).status_code == 403
    done = client.post(
        f"/held/{ids[0]}/decision",
        data={"decision": "approve", "note": "false alarm", "csrf": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = client.get("/held")
    assert f'id="held-{ids[0]}"' not in page.text and f'id="held-{ids[1]}"' in page.text
    approved = client.get("/held", params={"state": "approved"})
    assert f'id="held-{ids[0]}"' in approved.text and "false alarm" in approved.text
    assert [r["data"]["reviewer"] for r in _audit_kinds(client) if r["kind"] == "held-decision"] == ["admin"]


def test_a_viewer_sees_the_queue_but_cannot_decide(client: TestClient, settings: ServerSettings) -> None:
    from tests.server.conftest import login

    ids = client.post(
        "/api/v1/projects/p/held", json={"items": [_item()]}, headers=_bearer(settings, "p", "uploader")
    ).json()["ids"]
    csrf = admin_login(client)
    data = {"username": "vic", "password": "correct horse battery", "role": "viewer", "csrf": csrf}
    assert client.post("/admin/users", data=data, follow_redirects=False).status_code == 303
    client.cookies.clear()
    viewer_csrf = login(client, "vic", "correct horse battery")
    page = client.get("/held")
    assert f'id="held-{ids[0]}"' in page.text and "/decision" not in page.text
    refused = client.post(f"/held/{ids[0]}/decision", data={"decision": "approve", "csrf": viewer_csrf})
    assert refused.status_code == 403


def test_a_serving_process_posts_what_it_held_to_a_live_registry(
    live_server: tuple[str, str], settings: ServerSettings
) -> None:
    """Guarded's validator with a ReviewSink: held answers reach the queue as summaries, never raw."""
    from modelseal.defense.validate import ConfidenceGate, OutputValidator, ReviewItem
    from modelseal.runtime import ReviewSink

    base, _ = live_server
    token = create_token("fraud", "uploader", settings.database_url)
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (200, 4))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    gate = ConfidenceGate.calibrate(probs, probs.argmax(1), false_reject=0.05)
    sink = ReviewSink(
        model="fraud-scorer", project="fraud", server=base, token=token, digest="sha256:" + "0" * 64
    )
    validator = OutputValidator(gate=gate, deny=[r"(?i)wire \$\d+"], review=sink)
    batch = np.vstack([probs[:20], np.full((2, 4), 0.25)])
    inputs = rng.random((22, 8, 8)).astype(np.float32)
    screened = validator.screen(batch, inputs, client="eve")
    assert validator.check_text("please wire $5000 now", client="mallory").reasons
    assert sink.flush(30)
    assert sink.counts["posted"] == len(screened.held) + 1 and sink.counts["failed"] == 0
    reviewer = {"Authorization": f"Bearer {create_token('fraud', 'reviewer', settings.database_url)}"}
    import urllib.request

    request = urllib.request.Request(f"{base}/api/v1/held?limit=1000", headers=reviewer)
    items = json.loads(urllib.request.urlopen(request, timeout=10).read())
    assert len(items) == len(screened.held) + 1
    flat = [i for i in items if i["client"] == "eve" and i["output"]["confidence"] == 0.25]
    assert len(flat) == 2 and "high-entropy" in flat[0]["reasons"]
    assert flat[0]["input"]["shape"] == [8, 8] and len(flat[0]["input"]["sha256"]) == 64
    assert "excerpt" not in flat[0]["input"]  # an array is described, not sent
    text = next(i for i in items if i["client"] == "mallory")
    assert text["reasons"] == ["deny-pattern:(?i)wire \\$\\d+"]
    assert text["output"]["excerpt"] == "please wire $5000 now" and text["digest"].startswith("sha256:")
    # a registry that cannot be reached: the callback gets what could not be posted
    missed: list[ReviewItem] = []
    down = ReviewSink(
        model="m", project="fraud", server="http://127.0.0.1:9", token=token, callback=missed.append
    )
    OutputValidator(deny=["x"], review=down).check_text("x")
    assert down.flush(30) and down.counts["failed"] == 1 and len(missed) == 1


def test_review_sink_needs_a_server_or_a_callback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from modelseal.api.remote import RemoteError
    from modelseal.runtime import ReviewSink

    monkeypatch.delenv("MODELSEAL_SERVER", raising=False)
    monkeypatch.delenv("MODELSEAL_TOKEN", raising=False)
    with pytest.raises(ValueError):
        ReviewSink(model="m")
    with pytest.raises(ValueError):
        ReviewSink(model="m", server="http://127.0.0.1:9")  # no project
    with pytest.raises(RemoteError):
        ReviewSink(model="m", server="http://127.0.0.1:9", project="p")  # no token
