"""Single sign-on through a real OpenID Connect provider on loopback (tests/server/oidc_provider.py):
the role comes from a claim, the highest mapped value wins, no mapped value means no entry, and a
forged or replayed answer signs nobody in."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

pytest.importorskip("authlib")
pytest.importorskip("joserfc")

from joserfc.jwk import RSAKey

from modelseal.server.app import create_app
from modelseal.server.settings import OidcSettings, ServerSettings
from tests.server.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider

ROLES = (("ml-security", "reviewer"), ("ml-platform", "admin"), ("data-science", "viewer"))


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as found:
        yield found


@pytest.fixture
def sso(settings: ServerSettings, provider: Provider) -> Iterator[TestClient]:
    oidc = OidcSettings(provider.issuer, CLIENT_ID, CLIENT_SECRET, ROLES)
    with TestClient(create_app(replace(settings, oidc=oidc))) as client:
        yield client


def _sign_in(client: TestClient) -> tuple[str, object]:
    """The browser's round trip: to the provider (which signs the test's user in) and back; the callback."""
    start = client.get("/login/oidc", follow_redirects=False)
    assert start.status_code == 302
    to_provider = urlsplit(start.headers["location"])
    conn = http.client.HTTPConnection(to_provider.hostname or "", to_provider.port)
    conn.request("GET", f"{to_provider.path}?{to_provider.query}")
    answer = conn.getresponse()
    assert answer.status == 302, answer.read()
    back = urlsplit(answer.getheader("location") or "")
    assert back.path == "/login/oidc/callback"
    return f"{back.path}?{back.query}", client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_a_claim_maps_to_a_role(sso: TestClient, provider: Provider) -> None:
    provider.user = {"sub": "u-1", "preferred_username": "rita", "groups": ["ml-security", "unrelated"]}
    _, callback = _sign_in(sso)
    assert callback.status_code == 200  # type: ignore[attr-defined]
    assert "modelseal_session" in sso.cookies
    assert sso.get("/", follow_redirects=False).status_code == 200
    assert sso.get("/admin", follow_redirects=False).status_code == 403  # a reviewer is not an admin
    entries = sso.get("/api/v1/audit/verify").json()
    assert entries["ok"], entries


def test_the_highest_mapped_role_wins_and_follows_the_provider(sso: TestClient, provider: Provider) -> None:
    provider.user = {"sub": "u-2", "email": "pat@example.org", "groups": ["data-science", "ml-platform"]}
    _sign_in(sso)
    assert sso.get("/admin", follow_redirects=False).status_code == 200
    sso.cookies.clear()
    provider.user = {"sub": "u-2", "email": "pat@example.org", "groups": ["data-science"]}
    _sign_in(sso)
    assert (
        sso.get("/admin", follow_redirects=False).status_code == 403
    )  # demoted at the provider: demoted here


def test_no_mapped_claim_means_no_entry(sso: TestClient, provider: Provider) -> None:
    provider.user = {"sub": "u-3", "preferred_username": "eve", "groups": ["marketing"]}
    _, callback = _sign_in(sso)
    assert callback.status_code == 403  # type: ignore[attr-defined]
    assert "modelseal_session" not in sso.cookies
    assert sso.get("/", follow_redirects=False).status_code == 303  # to the login page


def test_a_forged_id_token_signs_nobody_in(sso: TestClient, provider: Provider) -> None:
    provider.user = {"sub": "u-4", "preferred_username": "mallory", "groups": ["ml-platform"]}
    provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # not the published key
    _, callback = _sign_in(sso)
    assert callback.status_code == 401  # type: ignore[attr-defined]
    assert "modelseal_session" not in sso.cookies


def test_a_replayed_callback_signs_nobody_in(sso: TestClient, provider: Provider) -> None:
    provider.user = {"sub": "u-5", "preferred_username": "rita", "groups": ["ml-platform"]}
    url, callback = _sign_in(sso)
    assert callback.status_code == 200  # type: ignore[attr-defined]
    sso.cookies.clear()
    assert sso.get(url, follow_redirects=False).status_code == 401  # no state of ours: refused
    assert "modelseal_session" not in sso.cookies


def test_provider_users_have_no_password(sso: TestClient, provider: Provider) -> None:
    provider.user = {"sub": "u-6", "preferred_username": "admin", "groups": ["ml-platform"]}
    _sign_in(sso)
    sso.cookies.clear()
    for name in ("oidc:admin", "admin"):
        response = sso.post("/login", data={"username": name, "password": ""}, follow_redirects=False)
        assert response.status_code in (401, 422)
    assert "Sign in with single sign-on" in sso.get("/login").text


def test_role_mapping_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSEAL_OIDC_ISSUER", "https://idp.example.org")
    monkeypatch.setenv("MODELSEAL_OIDC_ROLES", "ml-security=reviewer, ml-platform=admin")
    monkeypatch.setenv("MODELSEAL_OIDC_ROLE_CLAIM", "roles")
    found = OidcSettings.from_env()
    assert found is not None
    assert found.role_for({"roles": "ml-platform"}) == "admin"
    assert found.role_for({"groups": ["ml-platform"]}) is None
    monkeypatch.setenv("MODELSEAL_OIDC_ROLES", "ml-platform=root")
    with pytest.raises(ValueError, match="root"):
        OidcSettings.from_env()
