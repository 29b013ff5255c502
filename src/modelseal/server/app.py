"""The FastAPI application: REST API under ``/api/v1`` (OpenAPI at ``/docs``) and the dashboard."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelseal import __version__
from modelseal.server import api_v1, held, pages
from modelseal.server.auth import Sessions
from modelseal.server.gatecache import GateCache
from modelseal.server.service import Registry, RegistryError
from modelseal.server.settings import ServerSettings
from modelseal.store import repo

log = logging.getLogger("modelseal.server")
UPLOAD_SLOTS = 4
"""Uploads stored at once; their audit entries are appended one at a time anyway, and the rest wait on
the event loop without a thread or a database connection, so gate queries are never starved."""
HERE = Path(__file__).parent


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    registry = Registry(settings)
    with registry.session() as session:
        secret = repo.setting(session, "session_secret", secrets.token_urlsafe(48))
        session.commit()
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.background:
            threading.Thread(target=_daily, args=(registry, stop), daemon=True, name="reverify").start()
            if settings.queue:
                threading.Thread(target=_landing, args=(registry, stop), daemon=True, name="land").start()
        yield
        stop.set()
        app.state.gate_cache.close()
        registry.engine.dispose()

    app = FastAPI(
        title="modelseal registry",
        version=__version__,
        description="Every model's verdict, evidence, review and approval. Uploads take the scan report "
        "schema (scan-report-v1), CycloneDX BOMs and inventories; tokens are scoped to one project.",
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.upload_slots = asyncio.Semaphore(UPLOAD_SLOTS)
    app.state.sessions = Sessions(secret)
    app.state.settings = settings
    app.state.gate_cache = GateCache(registry.engine)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api_v1.router)
    app.include_router(pages.router)
    app.include_router(held.api)
    app.include_router(held.pages)

    @app.exception_handler(RegistryError)
    async def registry_error(request: Request, exc: RegistryError) -> Response:
        return _error(request, exc.status, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        path = ".".join(str(p) for p in first.get("loc", ()))
        return _error(request, 422, str(first.get("msg", "invalid request")), path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and not request.url.path.startswith("/api/"):
            return RedirectResponse("/login", status_code=303)
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("request failed: %s %s", request.method, request.url.path)
        return _error(request, 500, "internal error (the server log has the details)")

    if settings.oidc is not None:
        from modelseal.server import oidc

        oidc.install(app, settings.oidc, secret, settings.secure_cookies)
    app.add_middleware(SecurityHeaders)
    return app


_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
_CSP = (
    b"content-security-policy",
    b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    b"frame-ancestors 'none'; form-action 'self'",
)


class SecurityHeaders:
    """Security headers on every response (CSP except on the OpenAPI pages), as plain ASGI: no task and
    no stream per request, which the gate's request rate notices."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = (
            _HEADERS if str(scope["path"]).startswith(("/docs", "/redoc", "/openapi")) else [*_HEADERS, _CSP]
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def app_from_env() -> FastAPI:
    """The app as ``modelseal serve`` configures it (through the environment, for uvicorn's factory)."""
    env = os.environ.get
    paths = tuple(p for p in env("MODELSEAL_REVERIFY_PATHS", "").split(os.pathsep) if p)
    return create_app(
        ServerSettings(
            audit_log=Path(env("MODELSEAL_SERVER_AUDIT_LOG", ""))
            if env("MODELSEAL_SERVER_AUDIT_LOG")
            else None,
            policy=Path(env("MODELSEAL_POLICY", "")) if env("MODELSEAL_POLICY") else None,
            reverify_paths=paths,
            secure_cookies=bool(env("MODELSEAL_SECURE_COOKIES")),
        )
    )


def ensure_admin(registry: Registry, *, reset: bool = False) -> str | None:
    """The admin's one-time password when one was set (first start, or ``reset``), for in-process use;
    ``modelseal serve`` does this before its workers start (``api.bootstrap_admin``)."""
    with registry.session() as session:
        password = repo.ensure_admin(session, reset=reset)
        if password is not None:
            registry.commit(session, [("user", {"username": "admin", "role": "admin", "by": "ensure_admin"})])
    return password


def _error(request: Request, status: int, message: str, field: str = "") -> Response:
    if request.url.path.startswith("/api/"):
        body = {"detail": message} | ({"field": field} if field else {})
        return JSONResponse(body, status_code=status)
    return HTMLResponse(pages.render_error(request, status, message, field), status_code=status)


def _daily(registry: Registry, stop: threading.Event) -> None:
    """Re-verify deployed models and re-decide every verdict, once a day (waivers expire, files drift)."""
    while not stop.wait(registry.settings.reverify_interval_s):
        try:
            registry.reverify()
        except Exception:
            log.exception("daily re-verification failed")


def _landing(registry: Registry, stop: threading.Event) -> None:
    """Land the queue workers' finished model versions as scans, every few seconds."""
    from modelseal.server.sweeps import land

    while not stop.wait(registry.settings.land_interval_s):
        try:
            land(registry)
        except Exception:
            log.exception("landing swept versions failed")
