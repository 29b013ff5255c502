"""The audit log's readers: verify it end to end, show it, take its checkpoint, prove an entry.

The gate writes the log (:mod:`modelseal.api.gating`); these read it and need no secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelseal.audit import merkle
from modelseal.audit.log import AuditLogError as AuditLogError  # what a broken log raises
from modelseal.audit.log import LogContents as LogContents  # what contents() returns
from modelseal.audit.log import default_log_path, read_log
from modelseal.audit.verify import Verification, describe, verify_log


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
    path = log_path(req.audit_log)
    return AuditVerifyResult(
        path, verify_log(path, public_key=req.public_key, trusted_notes=req.trusted_notes)
    )


def contents(audit_log: Path | None) -> LogContents:
    """Everything in the log, read-only; :class:`AuditLogError` when it cannot be read."""
    return read_log(log_path(audit_log))


def prove(audit_log: Path | None, index: int, old_size: int | None = None) -> dict[str, Any]:
    """An inclusion proof for entry ``index`` (and a consistency proof from ``old_size``), as plain data.
    ValueError when the log has no such entry or size."""
    log = contents(audit_log)
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
