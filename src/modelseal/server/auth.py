"""Who is asking: dashboard users (argon2 passwords, signed session cookies, a CSRF token per session)
and CI (project-scoped API tokens). Every route names the permission it needs."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from modelseal.store import repo
from modelseal.store.models import User
from modelseal.store.passwords import check_password as check_password  # the login form checks with it
from modelseal.store.passwords import hash_password as hash_password  # the admin page sets with it

COOKIE = "modelseal_session"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Principal:
    """A logged-in user or an API token, with what it may do."""

    name: str
    role: str
    project_id: int | None = None
    """Set for tokens: the one project they may touch."""
    can_bypass: bool = False
    csrf: str = ""

    def may(self, permission: str) -> bool:
        return permission in repo.PERMISSIONS.get(self.role, frozenset())

    def sees(self, project_id: int) -> bool:
        return self.project_id is None or self.project_id == project_id


class Sessions:
    """Signed, timed session cookies carrying the user name and the session's CSRF token."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="modelseal-session")

    def issue(self, user: User) -> tuple[str, str]:
        csrf = secrets.token_urlsafe(24)
        return self._serializer.dumps({"u": user.username, "c": csrf}), csrf

    def read(self, cookie: str) -> dict[str, Any] | None:
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None


def csrf_ok(principal: Principal, submitted: str) -> bool:
    return bool(principal.csrf) and hmac.compare_digest(principal.csrf, submitted)


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None
