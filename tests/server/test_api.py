"""The REST API on both databases: uploads, the gate, size and schema limits, tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelseal.api import create_token
from modelseal.server.settings import ServerSettings
from tests.server.conftest import admin_login, scan_report


def _token(settings: ServerSettings, project: str, role: str = "uploader") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(project, role, settings.database_url)}"}


def test_upload_then_gate_blocks_a_high_finding(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    report = scan_report(tmp_path / "fraud-model")
    headers = _token(settings, "fraud")
    response = client.post("/api/v1/projects/fraud/scans", json=report, headers=headers)
    assert response.status_code == 201, response.text
    digest = report["targets"][0]["manifest_digest"]
    assert response.json()["models"][0]["digest"] == digest
    gate = client.get("/api/v1/gate", params={"digest": digest, "env": "staging"}, headers=headers)
    assert gate.status_code == 200
    body = gate.json()
    assert body["verdict"] == "block"
    assert any(r["rule"] == "staging-high-findings" for r in body["reasons"])


def test_clean_model_is_allowed_in_dev(client: TestClient, settings: ServerSettings, tmp_path: Path) -> None:
    report = scan_report(tmp_path / "clean", malicious=False)
    headers = _token(settings, "p")
    assert client.post("/api/v1/projects/p/scans", json=report, headers=headers).status_code == 201
    digest = report["targets"][0]["manifest_digest"]
    assert (
        client.get("/api/v1/gate", params={"digest": digest, "env": "dev"}, headers=headers).json()["verdict"]
        == "allow"
    )


def test_invalid_report_names_the_field(client: TestClient, settings: ServerSettings, tmp_path: Path) -> None:
    report = scan_report(tmp_path / "m")
    report["findings"][0]["severity"] = 7
    response = client.post("/api/v1/projects/p/scans", json=report, headers=_token(settings, "p"))
    assert response.status_code == 422
    assert response.json()["field"] == "$.findings[0].severity"
    assert "Traceback" not in response.text


def test_too_large_upload_is_413(settings: ServerSettings, tmp_path: Path) -> None:
    from modelseal.server.app import create_app

    small = ServerSettings(
        database_url=settings.database_url,
        audit_log=settings.audit_log,
        background=False,
        max_upload_bytes=1000,
    )
    with TestClient(create_app(small)) as c:
        body = json.dumps(scan_report(tmp_path / "m"))
        response = c.post("/api/v1/projects/p/scans", content=body, headers=_token(settings, "p"))
    assert response.status_code == 413


def test_an_upload_is_one_transaction(client: TestClient, settings: ServerSettings, tmp_path: Path) -> None:
    """A report whose second target is unusable stores nothing of the first."""
    one = scan_report(tmp_path / "a")
    headers = _token(settings, "p")
    one["targets"].append(dict(one["targets"][0], manifest_digest=None, target="b"))
    response = client.post("/api/v1/projects/p/scans", json=one, headers=headers)
    assert response.status_code == 422
    assert response.json()["field"] == "$.targets[1].manifest_digest"
    assert client.get("/api/v1/projects/p/models", headers=headers).json() == []


def test_tokens_are_stored_hashed(client: TestClient, settings: ServerSettings) -> None:
    token = create_token("p", "viewer", settings.database_url)
    from sqlalchemy import select

    from modelseal.store.models import ApiToken

    with client.app.state.registry.session() as session:  # type: ignore[attr-defined]
        stored = session.scalars(select(ApiToken)).all()
    assert stored and all(token not in (t.token_hash, t.prefix) for t in stored)
    assert (
        client.get("/api/v1/projects/p/models", headers={"Authorization": "Bearer mst_wrong"}).status_code
        == 401
    )


def test_bom_is_attached_by_its_manifest_digest(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    pytest.importorskip("cyclonedx")
    from modelseal.api import BomRequest, bom
    from modelseal.reports import writer_for

    report = scan_report(tmp_path / "m")
    headers = _token(settings, "p")
    model = client.post("/api/v1/projects/p/scans", json=report, headers=headers).json()["models"][0]
    document = json.loads(writer_for("bom", "cyclonedx").render(bom(BomRequest(str(tmp_path / "m"))).facts))
    attached = client.post("/api/v1/projects/p/boms", json=document, headers=headers)
    assert attached.status_code == 201, attached.text
    assert attached.json()["digest"] == model["digest"]
    admin_login(client)
    assert client.get(f"/models/{model['id']}/bom.json").json()["bomFormat"] == "CycloneDX"
    other = _token(settings, "q")
    assert client.post("/api/v1/projects/q/boms", json=document, headers=other).status_code == 422


def test_gate_answers_are_cached_per_etag_and_forgotten_on_a_change_in_any_worker(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    """Two apps on one database are two ``serve --workers``: a waiver granted through one changes the
    answer the other gives at once (the change counter), and If-None-Match gets 304 until then."""
    from datetime import date, timedelta

    from modelseal.server.app import create_app

    report = scan_report(tmp_path / "m")
    headers = _token(settings, "p")
    answer = client.post("/api/v1/projects/p/scans", json=report, headers=headers).json()
    model_id, digest = answer["models"][0]["id"], answer["models"][0]["digest"]
    query = {"digest": digest, "env": "dev"}
    first = client.get("/api/v1/gate", params=query, headers=headers)
    assert first.json()["verdict"] == "block"
    etag = first.headers["etag"]
    again = client.get("/api/v1/gate", params=query, headers=headers | {"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    with TestClient(create_app(settings)) as other:
        csrf = admin_login(other)
        for finding in report["findings"]:
            response = other.post(
                f"/models/{model_id}/waivers",
                data={
                    "rule": finding["rule_id"],
                    "expires": str(date.today() + timedelta(days=7)),
                    "justification": "fixture",
                    "csrf": csrf,
                },
                follow_redirects=False,
            )
            assert response.status_code == 303, response.text
    changed = client.get("/api/v1/gate", params=query, headers=headers | {"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["verdict"] == "allow"
    assert changed.headers["etag"] != etag


def test_gate_needs_a_known_token_every_time(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    report = scan_report(tmp_path / "m")
    headers = _token(settings, "p")
    client.post("/api/v1/projects/p/scans", json=report, headers=headers)
    query = {"digest": report["targets"][0]["manifest_digest"]}
    assert client.get("/api/v1/gate", params=query, headers=headers).status_code == 200
    assert client.get("/api/v1/gate", params=query).status_code == 401
    wrong = {"Authorization": headers["Authorization"] + "x"}
    assert client.get("/api/v1/gate", params=query, headers=wrong).status_code == 401
    other = _token(settings, "q", "viewer")
    assert client.get("/api/v1/gate", params=query | {"project": "p"}, headers=other).status_code == 403
    assert client.get("/api/v1/gate", params=query, headers=other).status_code == 404


def _signed_model(root: Path, tmp_path: Path) -> Path:
    """A clean model folder signed with a new Ed25519 key (model.sig); the public key's path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from modelseal.api.integrity import SignRequest, Where, sign

    scan_report(root, malicious=False)  # writes the model's files
    key = Ed25519PrivateKey.generate()
    private, public = tmp_path / "key.pem", tmp_path / "key.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    sign(SignRequest(Where(str(root)), private, root / "model.sig"))
    return public


def _prod_reasons(client: TestClient, headers: dict[str, str], digest: str) -> dict[str, str]:
    gate = client.get("/api/v1/gate", params={"digest": digest, "env": "prod"}, headers=headers).json()
    return {r["rule"]: r["outcome"] for r in gate["reasons"]}


def test_a_report_carries_the_signature_state_and_the_gate_uses_it(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    """``scan --public-key`` states the signature in the report; the registry shows it and decides on it
    (prod's signature rule passes; an invalid one blocks), while a report without one stays ``unavailable``
    (review)."""
    from modelseal.cli.scan import main as scan_main

    root = tmp_path / "signed"
    public = _signed_model(root, tmp_path)
    out = tmp_path / "signed.json"
    assert (
        scan_main([str(root), "--format", "json", "--digests", "-o", str(out), "--public-key", str(public)])
        == 0
    )
    report = json.loads(out.read_text())
    assert report["targets"][0]["signature"]["state"] == "verified"
    headers = _token(settings, "p")
    answer = client.post("/api/v1/projects/p/scans", json=report, headers=headers).json()
    model_id, digest = answer["models"][0]["id"], answer["models"][0]["digest"]
    assert "prod-signature" not in _prod_reasons(client, headers, digest)

    (root / "config.json").write_text("{}")  # a file added after signing
    scan_main([str(root), "--format", "json", "--digests", "-o", str(out), "--public-key", str(public)])
    tampered = json.loads(out.read_text())
    assert tampered["targets"][0]["signature"]["state"] == "invalid"
    answer = client.post("/api/v1/projects/p/scans", json=tampered, headers=headers).json()
    assert _prod_reasons(client, headers, answer["models"][0]["digest"])["prod-signature"] == "block"

    unsigned = scan_report(tmp_path / "plain", malicious=False)
    assert unsigned["targets"][0]["signature"] is None
    answer = client.post("/api/v1/projects/p/scans", json=unsigned, headers=headers).json()
    assert _prod_reasons(client, headers, answer["models"][0]["digest"])["prod-signature"] == "review"
    admin_login(client)
    page = client.get(f"/models/{model_id}").text
    assert 'class="state verified">verified' in page
