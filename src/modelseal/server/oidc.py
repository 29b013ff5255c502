"""Sign-in through an OpenID Connect provider with authlib (the ``server`` extra's option; local users
stay). Authorization code flow with PKCE; authlib checks the ID token's signature against the provider's
JWKS, and its issuer, audience, expiry and nonce. The role comes from a claim (:class:`OidcSettings`):
no mapped value, no entry. Users signed in this way are ``oidc:<name>``, so that no provider account can
take over a local one, and have no password; their role follows the provider at every sign-in.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from modelseal.core.extras import require
from modelseal.server.deps import registry
from modelseal.server.pages import render, signed_in
from modelseal.server.settings import OidcSettings
from modelseal.store import repo
from modelseal.store.models import User

log = logging.getLogger("modelseal.server.oidc")
router = APIRouter(include_in_schema=False)
STATE_COOKIE = "modelseal_oidc"
STATE_SECONDS = 600
_HOME = (
    '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/">'
    '<title>Signed in</title><a href="/">Continue</a>'
)
"""The callback answers with this page rather than a redirect: the provider's redirect is a cross-site
navigation, and the strict same-site session cookie is sent only once the browser is back on our site."""


def install(app: FastAPI, settings: OidcSettings, secret: str, secure_cookies: bool) -> None:
    require("oidc", "authlib", "httpx", feature="single sign-on (MODELSEAL_OIDC_ISSUER is set)")
    from authlib.integrations.starlette_client import OAuth
    from starlette.middleware.sessions import SessionMiddleware

    oauth = OAuth()
    oauth.register(
        "provider",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.scope, "code_challenge_method": "S256"},
    )
    app.state.oidc = oauth.create_client("provider")
    # authlib keeps state, nonce and the PKCE verifier in Starlette's signed session for the redirect's
    # round trip: a cookie of its own, lax (it must come back on the provider's redirect), short-lived
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=STATE_COOKIE,
        max_age=STATE_SECONDS,
        same_site="lax",
        https_only=secure_cookies,
    )
    app.include_router(router)


@router.get("/login/oidc")
async def start(request: Request) -> Response:
    redirect: Response = await request.app.state.oidc.authorize_redirect(
        request, str(request.url_for("oidc_callback"))
    )
    return redirect


@router.get("/login/oidc/callback", name="oidc_callback")
async def callback(request: Request) -> Response:
    settings: OidcSettings = request.app.state.settings.oidc
    try:
        token = await request.app.state.oidc.authorize_access_token(request)
        claims: dict[str, Any] = dict(token.get("userinfo") or {})
    except Exception as exc:  # any refusal by authlib (state, signature, claims) or the provider
        log.warning("single sign-on refused: %s", exc)
        claims = {}
    if not claims.get("sub"):
        return _refused(request, 401, "Single sign-on failed: the provider's answer did not check out.")
    role = settings.role_for(claims)
    if role is None:
        return _refused(request, 403, f"Your account has no modelseal role (claim {settings.role_claim!r}).")
    name = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])
    user = await run_in_threadpool(_user, request, f"oidc:{name}"[:128], role)
    return signed_in(request, user, HTMLResponse(_HOME))


def _user(request: Request, username: str, role: str) -> User:
    """The provider's user, created or given the provider's role now; the change is audited."""
    reg = registry(request)
    session: Session
    with reg.session() as session:
        user = repo.user_named(session, username)
        if user is not None and user.role == role:
            return user
        if user is None:
            user = User(username=username, role=role, can_bypass=False, password_hash="")
            session.add(user)
        user.role = role
        reg.commit(session, [("user", {"username": username, "role": role, "by": "single sign-on"})])
        return user


def _refused(request: Request, status: int, message: str) -> Response:
    return render(request, "login.html", None, status=status, error=message, oidc=True)
