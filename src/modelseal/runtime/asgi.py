"""ASGI middleware: put the run-time defences in front of an inference service (FastAPI, Starlette...).

Pure ASGI (no framework import): on the guarded paths it reads the request body, sanitises it (images,
text or audio by content, :mod:`modelseal.defense.sanitize`) and hands the cleaned bytes to the app;
refused input is answered ``400`` with the reason, before the model sees it. The app's JSON answer is
then validated: a ``probs`` list goes through the :class:`~modelseal.defense.validate.OutputValidator`
and the :class:`~modelseal.defense.monitor.Monitor`, a ``text`` field through the deny patterns and
honeytokens; a held answer becomes ``422`` with the reasons (and goes to review through the validator's
callback). The client is named by the ``x-client-id`` header, else its address.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from modelseal.defense.errors import RefusedInput

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
MAX_BODY = 32 << 20


@dataclass
class GuardMiddleware:
    app: ASGIApp
    guarded: Any
    """A :class:`modelseal.runtime.Guarded` (its sanitiser, validator and monitor are used)."""
    paths: tuple[str, ...] = ("/predict",)
    max_body: int = MAX_BODY
    sanitize_input: bool = True
    counts: dict[str, int] = field(default_factory=lambda: {"requests": 0, "refused": 0, "held": 0})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        self.counts["requests"] += 1
        body = await self._body(receive)
        if body is None:
            await _json(send, 413, {"error": f"request body over {self.max_body} bytes"})
            return
        changes: list[str] = []
        if self.sanitize_input:
            try:
                cleaned = self.guarded.sanitize(body)
            except RefusedInput as exc:
                self.counts["refused"] += 1
                await _json(send, 400, {"error": "input refused", "reason": str(exc)})
                return
            body, changes = cleaned.data, [c.what for c in cleaned.changes]
        await self._forward(scope, body, send, changes)

    async def _body(self, receive: Receive) -> bytes | None:
        parts, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    async def _forward(self, scope: Scope, body: bytes, send: Send, changes: list[str]) -> None:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, replay, capture)
        status, payload = int(start.get("status", 500)), b"".join(chunks)
        client = _client(scope)
        if status == 200:
            reasons = self._check(payload, client)
            if reasons:
                self.counts["held"] += 1
                await _json(send, 422, {"error": "answer held for review", "reasons": reasons})
                return
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if changes:
            headers.append((b"x-modelseal-sanitized", ",".join(changes).encode()))
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _check(self, payload: bytes, client: str) -> list[str]:
        import numpy as np

        try:
            answer = json.loads(payload)
        except ValueError:
            return []
        if not isinstance(answer, dict):
            return []
        reasons: list[str] = []
        validator, monitor = self.guarded.validator, self.guarded.monitor
        probs = answer.get("probs")
        if isinstance(probs, list) and probs:
            p = np.asarray(probs, dtype=np.float64)[None]
            if validator is not None:
                reasons += validator.check_probs(p[0], client=client).reasons
            if monitor is not None:
                monitor.observe_batch({"confidence": p.max(1), "predicted": p.argmax(1)})
        text = answer.get("text")
        if isinstance(text, str) and validator is not None:
            reasons += validator.check_text(text, client).reasons
        return reasons


def _client(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == b"x-client-id":
            return str(value.decode("latin-1"))
    addr = scope.get("client")
    return str(addr[0]) if addr else "unknown"


async def _json(send: Send, status: int, document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
