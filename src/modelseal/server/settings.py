"""What ``modelseal serve`` was started with."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelseal.store.repo import ROLES

MAX_UPLOAD_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class OidcSettings:
    """Sign-in through an OpenID Connect provider (authorization code with PKCE; the ID token's signature,
    issuer, audience, expiry and nonce are checked). The role comes from one claim of the ID token:
    ``roles`` maps its values to roles, the highest match wins, and no match means no entry."""

    issuer: str
    client_id: str
    client_secret: str
    roles: tuple[tuple[str, str], ...]
    """(claim value, role) pairs, e.g. (("ml-platform", "admin"), ("ml-security", "reviewer"))."""
    role_claim: str = "groups"
    scope: str = "openid email profile"

    def role_for(self, claims: Mapping[str, Any]) -> str | None:
        value = claims.get(self.role_claim)
        values = {value} if isinstance(value, str) else {v for v in value or () if isinstance(v, str)}
        found = [role for claim, role in self.roles if claim in values]
        return max(found, key=ROLES.index) if found else None

    @classmethod
    def from_env(cls) -> OidcSettings | None:
        """``MODELSEAL_OIDC_ISSUER``, ``_CLIENT_ID``, ``_CLIENT_SECRET``, ``_ROLE_CLAIM`` (default ``groups``)
        and ``_ROLES`` (``value=role,value=role``); None unless the issuer is set."""
        env = os.environ.get
        if not env("MODELSEAL_OIDC_ISSUER"):
            return None
        pairs = [item.partition("=") for item in env("MODELSEAL_OIDC_ROLES", "").split(",") if item.strip()]
        roles = tuple((claim.strip(), role.strip()) for claim, _, role in pairs)
        unknown = [role for _, role in roles if role not in ROLES]
        if unknown or not roles:
            raise ValueError(
                f"MODELSEAL_OIDC_ROLES maps claim values to {', '.join(ROLES)}: {unknown or 'empty'}"
            )
        return cls(
            env("MODELSEAL_OIDC_ISSUER", ""),
            env("MODELSEAL_OIDC_CLIENT_ID", ""),
            env("MODELSEAL_OIDC_CLIENT_SECRET", ""),
            roles,
            env("MODELSEAL_OIDC_ROLE_CLAIM", "groups"),
        )


@dataclass(frozen=True)
class ServerSettings:
    database_url: str | None = None
    """None: ``MODELSEAL_DATABASE_URL`` or SQLite in the user data folder."""
    audit_log: Path | None = None
    """None: ``registry-audit.sqlite`` in the user data folder (MODELSEAL_AUDIT_LOG overrides)."""
    policy: Path | None = None
    webhook_url: str | None = field(default_factory=lambda: os.environ.get("MODELSEAL_WEBHOOK_URL"))
    webhook_secret: str = field(default_factory=lambda: os.environ.get("MODELSEAL_WEBHOOK_SECRET", ""))
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    secure_cookies: bool = False
    """Set the Secure flag on the session cookie (always behind TLS)."""
    reverify_paths: tuple[str, ...] = ()
    """Folders of deployed models to re-verify daily (``modelseal reverify`` in the service)."""
    reverify_interval_s: float = 24 * 3600
    oidc: OidcSettings | None = field(default_factory=OidcSettings.from_env)
    """Sign-in through an OpenID Connect provider, beside local users (``MODELSEAL_OIDC_*``)."""
    queue: bool = field(default_factory=lambda: bool(os.environ.get("MODELSEAL_QUEUE")))
    """The registry's PostgreSQL database is also the job queue's (``MODELSEAL_QUEUE=1``): sweeps can be
    enqueued from the API and their results land as scans (:mod:`modelseal.server.sweeps`)."""
    land_interval_s: float = 10.0
    """How often finished swept versions are landed in the registry's tables."""
    background: bool = True
    """Run the daily re-verification thread (tests turn it off and call it directly)."""

    def audit_path(self) -> Path:
        from modelseal.store.db import audit_log_path

        return audit_log_path(self.audit_log)
