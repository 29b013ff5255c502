"""Tamper with a real log in every way and check that ``verify_log`` names the damage."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from modelseal.audit import merkle, proofs
from modelseal.audit.checkpoint import SigningKey, load_or_create_key, verify_note
from modelseal.audit.log import AuditLog, AuditLogError, Entry, read_log, witness_path_for
from modelseal.audit.verify import verify_log


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit.sqlite"
    with AuditLog.open(path) as log:
        for i in range(6):
            log.append("verdict", {"model": f"m{i}", "verdict": "allow"})
    return path


def _sql(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for sql, args in statements:
            conn.execute(sql, args)
    conn.close()


def _record(path: Path, idx: int) -> str:
    conn = sqlite3.connect(path)
    (rec,) = conn.execute("SELECT record FROM entries WHERE idx=?", (idx,)).fetchone()
    conn.close()
    return str(rec)


def _kinds(path: Path) -> dict[str, set[int | None]]:
    out: dict[str, set[int | None]] = {}
    for p in verify_log(path).problems:
        entries = out.setdefault(p.kind, set())
        if p.entry is not None:  # whole-log problems (a failed witness check) name no entry
            entries.add(p.entry)
    return out


def test_untouched_log_verifies(log_path: Path) -> None:
    v = verify_log(log_path)
    assert v.ok, v.problems
    assert v.size == 6


def test_edit_is_named(log_path: Path) -> None:
    doc = json.loads(_record(log_path, 3))
    doc["data"]["verdict"] = "block"
    _sql(log_path, ("UPDATE entries SET record=? WHERE idx=3", (json.dumps(doc),)))
    assert _kinds(log_path) == {"edited": {3}}


def test_delete_in_the_middle_is_named(log_path: Path) -> None:
    _sql(log_path, ("DELETE FROM entries WHERE idx=2", ()))
    kinds = _kinds(log_path)
    assert kinds["removed"] == {2}
    assert 2 in kinds["edited"]


def test_reorder_is_named(log_path: Path) -> None:
    r1, r4 = _record(log_path, 1), _record(log_path, 4)
    _sql(
        log_path,
        ("UPDATE entries SET record=? WHERE idx=1", (r4,)),
        ("UPDATE entries SET record=? WHERE idx=4", (r1,)),
    )
    kinds = _kinds(log_path)
    assert kinds["reordered"] == {1, 4}
    assert kinds["edited"] == {1}


def test_truncation_is_detected_by_the_witness(log_path: Path) -> None:
    _sql(log_path, ("DELETE FROM entries WHERE idx>=4", ()), ("DELETE FROM checkpoints WHERE size>4", ()))
    assert _kinds(log_path) == {"truncated": {4}}


def test_truncation_keeping_checkpoints_is_detected(log_path: Path) -> None:
    witness_path_for(log_path).unlink()
    _sql(log_path, ("DELETE FROM entries WHERE idx=5", ()))
    assert _kinds(log_path) == {"truncated": {5}}


def test_truncated_file_is_corrupt(log_path: Path) -> None:
    data = log_path.read_bytes()
    log_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AuditLogError, match=r"corrupted|unreadable|not a modelseal"):
        verify_log(log_path)


def test_forged_append_without_checkpoint(log_path: Path) -> None:
    forged = Entry(6, "2026-01-01T00:00:00+00:00", "bypass", {"reason": "nobody will notice"})
    _sql(log_path, ("INSERT INTO entries VALUES (6, ?)", (forged.record(),)))
    assert _kinds(log_path) == {"forged": {6}}


def test_forged_append_signed_with_another_key(log_path: Path, tmp_path: Path) -> None:
    leaves = [merkle.leaf_hash(_record(log_path, i).encode()) for i in range(6)]
    forged = Entry(6, "2026-01-01T00:00:00+00:00", "verdict", {"verdict": "allow"}).record()
    leaves.append(merkle.leaf_hash(forged.encode()))
    from modelseal.audit.checkpoint import Checkpoint

    other: SigningKey = load_or_create_key(tmp_path / "other.key", "modelseal-audit")
    note = other.sign(Checkpoint("modelseal-audit", 7, merkle.subtree_root(leaves)))
    _sql(
        log_path,
        ("INSERT INTO entries VALUES (6, ?)", (forged,)),
        ("INSERT INTO checkpoints VALUES (7, ?)", (note,)),
    )
    witness_path_for(log_path).write_text(note)
    kinds = _kinds(log_path)
    assert kinds["forged"] >= {6}


def test_rewritten_history_fails_trusted_checkpoint(log_path: Path) -> None:
    """Rebuilding the whole log with the stolen key is still caught by a checkpoint kept elsewhere."""
    saved = read_log(log_path).latest_note()
    assert saved
    log_path.unlink()
    witness_path_for(log_path).unlink()
    with AuditLog.open(log_path) as log:
        for i in range(7):
            log.append("verdict", {"model": f"m{i}", "verdict": "block"})
    assert verify_log(log_path).ok
    v = verify_log(log_path, trusted_notes=(saved,))
    assert [p.kind for p in v.problems] == ["edited"]


def test_pinned_public_key_rejects_a_swapped_key(log_path: Path, tmp_path: Path) -> None:
    other = load_or_create_key(tmp_path / "other.key", "modelseal-audit")
    v = verify_log(log_path, public_key=other.public_bytes)
    assert {p.kind for p in v.problems} == {"forged"}


def test_proofs_from_the_log_verify_independently(log_path: Path) -> None:
    contents = read_log(log_path)
    leaves, note = contents.leaf_hashes(), contents.latest_note()
    assert note
    cp = verify_note(note, contents.meta["origin"], bytes.fromhex(contents.meta["public_key"]))
    entries = [Entry.parse(record) for _, record in contents.rows]
    assert cp.size == 6 and [e.index for e in entries] == list(range(6))
    for i in range(6):
        proofs.verify_inclusion(i, 6, leaves[i], merkle.inclusion_proof(i, leaves), cp.root)
    old = merkle.subtree_root(leaves[:3])
    proofs.verify_consistency(3, 6, old, cp.root, merkle.consistency_proof(3, leaves))


def test_wrong_key_file_refuses_to_append(
    log_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSEAL_AUDIT_KEY", str(tmp_path / "fresh.key"))
    with pytest.raises(AuditLogError, match="not the key"):
        AuditLog.open(log_path)


def test_garbage_file_is_not_a_log(tmp_path: Path) -> None:
    bad = tmp_path / "audit.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(AuditLogError):
        AuditLog.open(bad)
    with pytest.raises(AuditLogError):
        verify_log(bad)


def test_missing_cryptography_is_a_clear_error(log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "cryptography", None)  # as if the signing extra were not installed
    with pytest.raises(AuditLogError, match=r"modelseal\[signing\]"):
        verify_log(log_path)
    with pytest.raises(AuditLogError, match=r"modelseal\[signing\]"):
        AuditLog.open(log_path)
