"""The audit log's readers: verify it end to end, show it, take its checkpoint, prove an entry.

The gate writes the log (:mod:`modelseal.api.gating`); these read it and need no secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelseal.audit import merkle
from modelseal.audit.dblog import db_witness_path
from modelseal.audit.log import AuditLogError as AuditLogError  # what a broken log raises
from modelseal.audit.log import LogContents as LogContents  # what contents() returns
from modelseal.audit.log import default_log_path, read_log
from modelseal.audit.verify import Verification, describe, verify_contents, verify_log

if TYPE_CHECKING:
    from sqlalchemy import Connection


def log_path(path: Path | None) -> Path:
    """``path``, else ``MODELSEAL_AUDIT_LOG``, else ``audit.sqlite`` in the user data folder."""
    return path or default_log_path()


@dataclass(frozen=True)
class AuditVerifyRequest:
    audit_log: Path | None = None
    public_key: bytes | None = None
    """Pin the checkpoint signer: a raw 32-byte Ed25519 public key."""
    trusted_notes: tuple[str, ...] = ()
    """Checkpoints kept elsewhere: the log must still extend each."""
    database_url: str | None = None
    """The registry's log, in its database; ``audit_log`` then names its witness file
    (``<audit_log>.db-checkpoint``)."""


@dataclass(frozen=True)
class AuditVerifyResult:
    path: Path
    verification: Verification

    @property
    def ok(self) -> bool:
        return self.verification.ok

    def to_json(self) -> str:
        return describe(self.verification)


def verify(req: AuditVerifyRequest) -> AuditVerifyResult:
    """Check every entry, the tree and the checkpoints; any edit, removal, reordering or forgery shows."""
    if req.database_url is None:
        path = log_path(req.audit_log)
        return AuditVerifyResult(
            path, verify_log(path, public_key=req.public_key, trusted_notes=req.trusted_notes)
        )
    witness = db_witness_path(req.audit_log) if req.audit_log else None
    log = contents(req.audit_log, req.database_url)
    where = _redacted(req.database_url)
    return AuditVerifyResult(
        Path(where),
        verify_contents(log, where, witness, public_key=req.public_key, trusted_notes=req.trusted_notes),
    )


def verify_in(connection: Connection, audit_log: Path) -> tuple[AuditVerifyResult, LogContents]:
    """The registry's own check of its log, in ``connection``'s transaction (which holds the log still
    until it ends), and what was checked."""
    from modelseal.audit.dblog import lock, read_db_log

    lock(connection)
    log = read_db_log(connection)
    return AuditVerifyResult(
        Path("database"), verify_contents(log, "database", db_witness_path(audit_log))
    ), log


def contents(audit_log: Path | None, database_url: str | None = None) -> LogContents:
    """Everything in the log (a file, or the registry's database), read-only; :class:`AuditLogError`
    when it cannot be read."""
    if database_url is None:
        return read_log(log_path(audit_log))
    from sqlalchemy.exc import SQLAlchemyError

    from modelseal.audit.dblog import lock, read_db_log
    from modelseal.store.db import make_engine

    try:
        engine = make_engine(database_url)
        try:
            with engine.connect() as conn:
                lock(conn)  # appends wait a moment: one consistent view
                found = read_db_log(conn)
                conn.rollback()
                return found
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        raise AuditLogError(f"{_redacted(database_url)}: cannot read the audit log ({exc})") from None


def _redacted(url: str) -> str:
    """The URL without its credentials (it is printed)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


def prove(
    audit_log: Path | None, index: int, old_size: int | None = None, database_url: str | None = None
) -> dict[str, Any]:
    """An inclusion proof for entry ``index`` (and a consistency proof from ``old_size``), as plain data.
    ValueError when the log has no such entry or size."""
    log = contents(audit_log, database_url)
    leaves = log.leaf_hashes()
    if not 0 <= index < len(leaves) or (old_size is not None and not 0 <= old_size <= len(leaves)):
        raise ValueError(f"the log has {len(leaves)} entries")
    doc: dict[str, Any] = {
        "index": index,
        "size": len(leaves),
        "record": log.rows[index][1],
        "leaf_hash": leaves[index].hex(),
        "root": merkle.subtree_root(leaves).hex(),
        "checkpoint": log.latest_note(),
        "inclusion": [h.hex() for h in merkle.inclusion_proof(index, leaves)],
    }
    if old_size is not None:
        doc["consistency"] = {
            "from_size": old_size,
            "old_root": merkle.subtree_root(leaves[:old_size]).hex(),
            "proof": [h.hex() for h in merkle.consistency_proof(old_size, leaves)],
        }
    return doc
