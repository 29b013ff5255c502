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
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from modelseal.api.integrity import SignRequest, Where, sign
    from tests.integrity.conftest import _write_key

    scan_report(root, malicious=False)  # writes the model's files
    private, public = _write_key(tmp_path / "key", Ed25519PrivateKey.generate())
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


def _png(width: int = 8, height: int = 8) -> bytes:
    """A real grey-scale PNG, built with the standard library."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes((x * 32) % 256 for x in range(width)) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_inspect_pictures_are_checked_png_shown_with_the_model(
    client: TestClient, settings: ServerSettings, tmp_path: Path
) -> None:
    report = scan_report(tmp_path / "m")
    headers = _token(settings, "p")
    answer = client.post("/api/v1/projects/p/scans", json=report, headers=headers).json()
    model_id, digest = answer["models"][0]["id"], answer["models"][0]["digest"]
    url = f"/api/v1/projects/p/models/{digest}/pictures"
    png = _png()
    assert client.put(f"{url}/trigger-class4.png", content=png, headers=headers).status_code == 201
    bad_crc = png[:-5] + bytes([png[-5] ^ 1]) + png[-4:]
    refused = {
        "markup": b"<script>window.__pwned=1</script>",
        "cut short": png[:40],
        "bad crc": bad_crc,
        "trailing": png + b"<html>",
        "too wide": _png(9000, 1),
    }
    for why, body in refused.items():
        response = client.put(f"{url}/x.png", content=body, headers=headers)
        assert response.status_code == 422, why
    assert client.put(f"{url}/..%2Fescape.png", content=png, headers=headers).status_code in (404, 422)
    assert client.put(f"{url}/x.svg", content=png, headers=headers).status_code == 422
    too_big = png + b"\x00" * (4 * 1024 * 1024)
    assert client.put(f"{url}/big.png", content=too_big, headers=headers).status_code == 413
    assert client.put(f"{url}/v.png", content=png, headers=_token(settings, "p", "viewer")).status_code == 403
    assert client.put(f"{url}/o.png", content=png, headers=_token(settings, "other")).status_code == 403
    assert (
        client.put(
            f"/api/v1/projects/p/models/sha256:{'0' * 64}/pictures/x.png", content=png, headers=headers
        )
    ).status_code == 404
    admin_login(client)
    page = client.get(f"/models/{model_id}").text
    assert 'alt="trigger-class4.png"' in page
    assert "x.png" not in page
    src = page.split('<img src="')[1].split('"')[0]
    served = client.get(src)
    assert served.content == png
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "picture" in [e["kind"] for e in _audit_entries(client)]


def _audit_entries(client: TestClient) -> list[dict[str, object]]:
    import re

    page = client.get("/audit").text
    return [{"kind": kind} for kind in re.findall(r'class="kind[^"]*">([a-z-]+)<', page)]
