"""The audit log's store: entries and signed checkpoints in SQLite, appended in one transaction.

Each entry's leaf is its canonical JSON (with its own index, so moving a record is detectable); each
append signs a checkpoint for the new size, so ``audit verify`` can say which entry changed. The latest
checkpoint is also written beside the database (``<log>.checkpoint``) so cutting the tail off shows.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from modelseal.audit import merkle
from modelseal.audit.checkpoint import Checkpoint, CheckpointError, SigningKey, load_or_create_key
from modelseal.core.errors import ModelsealError

ENV_LOG = "MODELSEAL_AUDIT_LOG"
ENV_KEY = "MODELSEAL_AUDIT_KEY"
ORIGIN = "modelseal-audit"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
"""


class AuditLogError(ModelsealError):
    """The audit log cannot be opened, read or written; the gate fails closed on it."""

    hint = "run `modelseal audit verify`, or point --audit-log / MODELSEAL_AUDIT_LOG at a writable log"


def default_log_path() -> Path:
    """``MODELSEAL_AUDIT_LOG``, else ``audit.sqlite`` in the user's data directory."""
    env = os.environ.get(ENV_LOG)
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("modelseal", appauthor=False)) / "audit.sqlite"


def key_path_for(log_path: Path) -> Path:
    env = os.environ.get(ENV_KEY)
    return Path(env) if env else log_path.with_name(log_path.name + ".key")


def witness_path_for(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + ".checkpoint")


@dataclass(frozen=True)
class Entry:
    index: int
    time: str
    kind: str
    """``verdict``, ``waiver`` or ``bypass``."""
    data: dict[str, Any]

    def record(self) -> str:
        """The canonical JSON that is the Merkle leaf's input."""
        doc = {"index": self.index, "time": self.time, "kind": self.kind, "data": self.data}
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def parse(cls, record: str) -> Entry:
        doc = json.loads(record)
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
            raise ValueError("record is not an audit entry object")
        return cls(int(doc["index"]), str(doc["time"]), str(doc["kind"]), doc["data"])


def sign_next(
    acc: merkle.RootAccumulator, key: SigningKey, kind: str, data: dict[str, Any]
) -> tuple[Entry, str, str]:
    """The next entry of the log whose leaves ``acc`` holds (appended to it), its record, and the signed
    checkpoint for the new size: one checkpoint per entry, so verification names the entry that changed."""
    entry = Entry(acc.size, datetime.now(timezone.utc).isoformat(timespec="seconds"), kind, data)
    record = entry.record()
    acc.append(merkle.leaf_hash(record.encode()))
    return entry, record, key.sign(Checkpoint(key.name, acc.size, acc.root()))


def write_witness(witness: Path, note: str) -> None:
    """The latest checkpoint, kept outside the log's storage so that cutting its tail off shows."""
    tmp = witness.with_name(f"{witness.name}.{os.getpid()}.tmp")
    tmp.write_text(note)
    tmp.replace(witness)


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """Open the database; a file that is not one of our logs is an :class:`AuditLogError`."""
    try:
        if readonly:
            if not path.is_file():
                raise AuditLogError(f"{path}: audit log does not exist")
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            conn.executescript(_SCHEMA)
        check = conn.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise AuditLogError(f"{path}: audit log database is corrupted ({check[0] if check else '?'})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise AuditLogError(f"{path}: audit log is unreadable or corrupted ({exc})") from None
    if not {"meta", "entries", "checkpoints"} <= tables:
        conn.close()
        raise AuditLogError(f"{path}: not a modelseal audit log (tables missing)")
    return conn


class AuditLog:
    """Append-only writer. Opening checks the key matches the one the log was started with."""

    def __init__(self, path: Path, key: SigningKey) -> None:
        self.path = path
        self.key = key
        self._conn = connect(path, readonly=False)
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key='public_key'").fetchone()
            public = self.key.public_bytes.hex()
            if row is None:
                self._conn.execute(
                    "INSERT INTO meta VALUES ('public_key', ?), ('origin', ?)", (public, key.name)
                )
            elif row[0] != public:
                raise AuditLogError(
                    f"{path}: the signing key {key_path_for(path)} is not the key this log was started with"
                )
        except sqlite3.DatabaseError as exc:
            raise AuditLogError(f"{path}: cannot initialise the audit log ({exc})") from None

    @classmethod
    def open(cls, path: Path | None = None) -> AuditLog:
        path = path or default_log_path()
        try:
            key = load_or_create_key(key_path_for(path), ORIGIN)
        except CheckpointError as exc:
            raise AuditLogError(str(exc)) from None
        return cls(path, key)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, kind: str, data: dict[str, Any]) -> tuple[Entry, str]:
        """Add one entry and sign the new checkpoint; returns the entry and the signed note."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                acc = merkle.RootAccumulator()
                acc.extend(merkle.leaf_hash(r.encode()) for r in self._records())
                entry, record, note = sign_next(acc, self.key, kind, data)
                self._conn.execute("INSERT INTO entries VALUES (?, ?)", (entry.index, record))
                self._conn.execute("INSERT INTO checkpoints VALUES (?, ?)", (acc.size, note))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise AuditLogError(f"{self.path}: cannot append to the audit log ({exc})") from None
        write_witness(witness_path_for(self.path), note)
        return entry, note

    def _records(self) -> Iterator[str]:
        for (record,) in self._conn.execute("SELECT record FROM entries ORDER BY idx"):
            yield record


@dataclass(frozen=True)
class LogContents:
    """Everything in a log, read without the signing key (readers need no secret)."""

    meta: dict[str, str]
    rows: list[tuple[int, str]]
    """(index, record) in index order."""
    notes: list[tuple[int, str]]
    """(size, signed checkpoint) in size order."""

    def leaf_hashes(self) -> list[bytes]:
        return [merkle.leaf_hash(record.encode()) for _, record in self.rows]

    def latest_note(self) -> str | None:
        return self.notes[-1][1] if self.notes else None


def read_log(path: Path) -> LogContents:
    """Read a log read-only; an unreadable or foreign file is an :class:`AuditLogError`."""
    conn = connect(path, readonly=True)
    try:
        meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        rows = [(int(i), str(r)) for i, r in conn.execute("SELECT idx, record FROM entries ORDER BY idx")]
        checkpoints = conn.execute("SELECT size, note FROM checkpoints ORDER BY size")
        notes = [(int(s), str(n)) for s, n in checkpoints]
    except sqlite3.DatabaseError as exc:
        raise AuditLogError(f"{path}: audit log is unreadable or corrupted ({exc})") from None
    finally:
        conn.close()
    return LogContents(meta, rows, notes)
