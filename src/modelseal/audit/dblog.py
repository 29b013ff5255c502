"""The audit log inside a SQL database (the registry's, SQLite or PostgreSQL), appended in the caller's
transaction: the state change and its audit entries commit together or not at all.

The same entries, leaves and signed checkpoints as the file log (:mod:`modelseal.audit.log`); only the
storage differs. The signing key stays a file that the database never holds, so whoever can edit rows
cannot sign a new checkpoint, and the latest checkpoint is also written to a witness file beside the key
(``<base>.db-checkpoint``: not the file log's ``.checkpoint``, which a registry that kept its log in a
file before has beside the same key).
Appends take the ``head`` row's lock first, so workers in several processes append one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelseal.audit import merkle
from modelseal.audit.checkpoint import CheckpointError, load_or_create_key
from modelseal.audit.log import (
    ORIGIN,
    AuditLogError,
    Entry,
    LogContents,
    key_path_for,
    sign_next,
)
from modelseal.audit.verify import check_head

if TYPE_CHECKING:
    from sqlalchemy import Connection

_LOCK = "UPDATE audit_meta SET value = value WHERE key = 'head'"


def db_witness_path(key_base: Path) -> Path:
    return key_base.with_name(key_base.name + ".db-checkpoint")


def read_db_log(conn: Connection) -> LogContents:
    """Everything in the database's log (run it in one transaction, or under :func:`lock`, for a
    consistent view while others append)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        meta = {str(k): str(v) for k, v in conn.execute(text("SELECT key, value FROM audit_meta"))}
        rows = [
            (int(i), str(r))
            for i, r in conn.execute(text("SELECT idx, record FROM audit_entries ORDER BY idx"))
        ]
        notes = [
            (int(s), str(n))
            for s, n in conn.execute(text("SELECT size, note FROM audit_checkpoints ORDER BY size"))
        ]
    except SQLAlchemyError as exc:
        raise AuditLogError(f"the database's audit log cannot be read ({exc.__class__.__name__})") from None
    return LogContents(meta, rows, notes)


def lock(conn: Connection) -> None:
    """Hold the log until the transaction ends: appends in other transactions wait, and what is read
    after this is one consistent log."""
    from sqlalchemy import text

    if conn.execute(text(_LOCK)).rowcount != 1:  # type: ignore[attr-defined]
        raise AuditLogError("the database has no audit log (run `modelseal serve --migrate-only`)")


def append_db(
    conn: Connection, key_base: Path, events: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[list[Entry], str | None]:
    """Append ``events`` in ``conn``'s transaction after checking the log (damage refuses: fail closed).
    Returns the entries and the newest signed checkpoint; the caller writes it to the witness
    (:func:`db_witness_path`) once the transaction has committed."""
    from sqlalchemy import text

    try:
        key = load_or_create_key(key_path_for(key_base), ORIGIN)
    except CheckpointError as exc:
        raise AuditLogError(str(exc)) from None
    lock(conn)
    contents = read_db_log(conn)
    public = key.public_bytes.hex()
    if "public_key" not in contents.meta:
        conn.execute(
            text("INSERT INTO audit_meta (key, value) VALUES ('public_key', :k), ('origin', :o)"),
            {"k": public, "o": key.name},
        )
        contents = replace(contents, meta=contents.meta | {"public_key": public, "origin": key.name})
    elif contents.meta["public_key"] != public:
        raise AuditLogError(
            f"the signing key {key_path_for(key_base)} is not the key this log was started with"
        )
    problems = check_head(contents, db_witness_path(key_base))
    if problems:
        raise AuditLogError(
            "the audit log has been tampered with: " + "; ".join(p.message for p in problems[:3])
        )
    acc = merkle.RootAccumulator()
    acc.extend(contents.leaf_hashes())
    entries, note = [], None
    for kind, data in events:
        entry, record, note = sign_next(acc, key, kind, data)
        conn.execute(
            text("INSERT INTO audit_entries (idx, record) VALUES (:i, :r)"), {"i": entry.index, "r": record}
        )
        conn.execute(
            text("INSERT INTO audit_checkpoints (size, note) VALUES (:s, :n)"), {"s": acc.size, "n": note}
        )
        entries.append(entry)
    conn.execute(text("UPDATE audit_meta SET value = :v WHERE key = 'head'"), {"v": str(acc.size)})
    return entries, note
