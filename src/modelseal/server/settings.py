"""What ``modelseal serve`` was started with."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MAX_UPLOAD_BYTES = 32 * 1024 * 1024


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
    background: bool = True
    """Run the daily re-verification thread (tests turn it off and call it directly)."""

    def audit_path(self) -> Path:
        from modelseal.store.db import audit_log_path

        return audit_log_path(self.audit_log)
