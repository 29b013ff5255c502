"""Webhooks: a JSON payload POSTed with an HMAC-SHA256 signature of its exact bytes.

The receiver recomputes ``hmac(secret, body)`` and compares it with the ``X-Modelseal-Signature: sha256=...``
header. Delivery runs on a thread, so a slow receiver never holds a request; failures are logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import urllib.request
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger("modelseal.server")
HEADER = "X-Modelseal-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(self, url: str | None, secret: str) -> None:
        self.url, self.secret = url, secret

    def send(self, event: str, data: dict[str, Any]) -> threading.Thread | None:
        if not self.url:
            return None
        body = json.dumps(
            {"event": event, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "data": data},
            sort_keys=True,
        ).encode()
        thread = threading.Thread(target=self._post, args=(body,), daemon=True)
        thread.start()
        return thread

    def _post(self, body: bytes) -> None:
        assert self.url is not None
        request = urllib.request.Request(
            self.url, body, {"Content-Type": "application/json", HEADER: sign(self.secret, body)}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except OSError as exc:
            log.warning("webhook %s failed: %s", self.url, exc)
