"""The gate's hot path: answers kept per (token scope, project, digest, environment) while the registry's
change counter stands, and verified tokens kept for a few seconds.

Every state change bumps the counter in the database (:meth:`Registry.commit`), so a cached answer is
forgotten by every worker as soon as an upload, analysis, review, waiver or bypass lands; reading the
counter is one small query instead of the token lookup, the model and verdict query and the response
model. Answers decided on an earlier day are never served (waivers expire at midnight).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from modelseal.server.auth import Principal
from modelseal.store import repo

TOKEN_TTL_S = 10.0
"""How long a verified token is believed without asking the database again."""
MAX_ANSWERS = 20_000
"""Answers kept; past this the cache starts again empty (a scan of every digest must not grow memory)."""

GateKey = tuple[int | None, str | None, str, str | None]
"""(the token's project or None, the project asked for, digest, environment asked for)."""


@dataclass(frozen=True)
class Answer:
    generation: int
    day: date
    status: int
    body: bytes
    etag: str


class GateCache:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tokens: dict[str, tuple[float, Principal]] = {}
        self._answers: dict[GateKey, Answer] = {}
        self._lock = threading.Lock()
        self._conn: Connection | None = None

    def token(self, token: str) -> Principal | None:
        """The principal of a token verified in the last :data:`TOKEN_TTL_S` seconds, else None (ask)."""
        found = self._tokens.get(repo.hash_token(token))
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def remember_token(self, token: str, who: Principal) -> None:
        with self._lock:
            if len(self._tokens) > MAX_ANSWERS:
                self._tokens.clear()
            self._tokens[repo.hash_token(token)] = (time.monotonic() + TOKEN_TTL_S, who)

    def generation(self) -> int:
        """The registry's change counter, on a connection of its own in autocommit: one round trip (no
        pool checkout, ping or rollback), opened again once if the database dropped it."""
        with self._lock:
            try:
                return self._read_generation()
            except DBAPIError:
                self.close()
                return self._read_generation()

    def _read_generation(self) -> int:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return repo.generation(self._conn)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.invalidate()
            self._conn.close()
            self._conn = None

    def answer(self, key: GateKey, generation: int) -> Answer | None:
        found = self._answers.get(key)
        if found is None or found.generation != generation or found.day != date.today():
            return None
        return found

    def remember(self, key: GateKey, generation: int, status: int, body: bytes) -> Answer:
        """Keep an answer computed after ``generation`` was read (so a change in between makes it
        stale at once, never the other way round)."""
        answer = Answer(
            generation, date.today(), status, body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
        )
        with self._lock:
            if len(self._answers) >= MAX_ANSWERS:
                self._answers.clear()
            self._answers[key] = answer
        return answer
