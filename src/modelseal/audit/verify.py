"""Checks a whole audit log and names each entry that was edited, removed, reordered or forged.

Reads the database read-only, recomputes the root of every prefix and compares it with the signed
checkpoint for that size; one checkpoint per append means the first mismatch names the changed entry.
A checkpoint kept outside the log (the witness file, or one the user saved) is checked by a
consistency proof, which catches a log that was cut short or rebuilt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from modelseal.audit import merkle, proofs
from modelseal.audit.checkpoint import Checkpoint, CheckpointError, require_signing, verify_note
from modelseal.audit.log import AuditLogError, Entry, LogContents, read_log, witness_path_for


@dataclass(frozen=True)
class Problem:
    kind: str
    """``edited``, ``removed``, ``reordered``, ``forged``, ``truncated``, ``corrupt``."""
    message: str
    entry: int | None = None


@dataclass(frozen=True)
class Verification:
    path: str
    size: int
    root: bytes
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_entries(rows: list[tuple[int, str]]) -> list[Problem]:
    problems = []
    expected = 0
    for idx, record in rows:
        if idx > expected:
            gone = f"{expected}" if idx == expected + 1 else f"{expected}-{idx - 1}"
            problems.append(Problem("removed", f"entries {gone} were removed", expected))
        expected = idx + 1
        try:
            claimed = Entry.parse(record).index
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(Problem("edited", f"entry {idx} is not a valid record ({exc})", idx))
            continue
        if claimed != idx:
            problems.append(
                Problem("reordered", f"position {idx} holds entry {claimed}: entries were moved", idx)
            )
    return problems


def _signed_roots(
    notes: list[tuple[int, str]], origin: str, public_key: bytes
) -> tuple[dict[int, bytes], list[Problem]]:
    roots: dict[int, bytes] = {}
    problems = []
    for size, note in notes:
        try:
            cp = verify_note(note, origin, public_key)
        except CheckpointError as exc:
            problems.append(Problem("forged", f"checkpoint for size {size} is not genuine: {exc}", size - 1))
            continue
        if cp.size != size:
            problems.append(Problem("forged", f"checkpoint row {size} signs size {cp.size}", size - 1))
            continue
        roots[size] = cp.root
    return roots, problems


def _check_external(label: str, cp: Checkpoint, leaves: list[bytes], root_now: bytes) -> Problem | None:
    """A checkpoint kept outside the log must be a prefix of it (consistency proof, verifier's code)."""
    if cp.size > len(leaves):
        return Problem(
            "truncated", f"{label} commits to {cp.size} entries but the log has {len(leaves)}", len(leaves)
        )
    proof = merkle.consistency_proof(cp.size, leaves)
    try:
        proofs.verify_consistency(cp.size, len(leaves), cp.root, root_now, proof)
    except proofs.ProofError as exc:
        return Problem("edited", f"the log is not an extension of {label}: {exc}", None)
    return None


def verify_log(
    path: Path,
    *,
    public_key: bytes | None = None,
    trusted_notes: tuple[str, ...] = (),
) -> Verification:
    """Every problem found; ``public_key`` pins the signer (else the key recorded in the log is used)."""
    _require_signing()
    return verify_contents(
        read_log(path), str(path), witness_path_for(path), public_key=public_key, trusted_notes=trusted_notes
    )


def _require_signing() -> None:
    try:
        require_signing()
    except CheckpointError as exc:
        raise AuditLogError(str(exc)) from None


def _public_key(contents: LogContents, public_key: bytes | None) -> bytes:
    try:
        return public_key or bytes.fromhex(contents.meta.get("public_key", ""))
    except ValueError:
        return b""


def _externals(witness: Path | None, trusted_notes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(label, note) of each checkpoint kept outside the log: the witness file first, then the user's."""
    found = [(f"trusted checkpoint {n + 1}", note) for n, note in enumerate(trusted_notes)]
    if witness is not None and witness.exists():
        found.insert(0, ("the witness checkpoint", witness.read_text()))
    return found


def verify_contents(
    contents: LogContents,
    where: str,
    witness: Path | None,
    *,
    public_key: bytes | None = None,
    trusted_notes: tuple[str, ...] = (),
) -> Verification:
    """Every problem in a log's contents, wherever they are stored (a file, or the registry's database)."""
    meta, rows, notes = contents.meta, contents.rows, contents.notes
    origin = meta.get("origin", "")
    key = _public_key(contents, public_key)
    problems = _check_entries(rows)
    roots, sig_problems = _signed_roots(notes, origin, key)
    problems += sig_problems

    leaves = contents.leaf_hashes()
    acc = merkle.RootAccumulator()
    last_good = 0
    for i, leaf in enumerate(leaves):
        acc.append(leaf)
        signed = roots.get(acc.size)
        if signed is None:
            continue
        if signed != acc.root():
            which = f"entry {last_good}" if i == last_good else f"an entry in {last_good}-{i}"
            problems.append(
                Problem(
                    "edited",
                    f"{which} was edited, removed or replaced; later entries cannot be trusted",
                    last_good,
                )
            )
            break
        last_good = acc.size
    else:
        if len(leaves) > last_good:
            extra = ", ".join(str(idx) for idx, _ in rows[last_good:])
            problems.append(
                Problem(
                    "forged", f"entries {extra} are not covered by any signed checkpoint", rows[last_good][0]
                )
            )
    beyond = [s for s in roots if s > len(leaves)]
    if beyond:
        problems.append(
            Problem(
                "truncated",
                f"signed checkpoints go up to size {max(beyond)} but the log has {len(leaves)}",
                len(leaves),
            )
        )
    root_now = acc.root() if acc.size == len(leaves) else merkle.subtree_root(leaves)
    problems += _check_externals(_externals(witness, trusted_notes), origin, key, leaves, root_now)
    return Verification(where, len(leaves), root_now, tuple(problems))


def _check_externals(
    externals: list[tuple[str, str]], origin: str, key: bytes, leaves: list[bytes], root_now: bytes
) -> list[Problem]:
    problems = []
    for label, note in externals:
        try:
            cp = verify_note(note, origin, key)
        except CheckpointError as exc:
            problems.append(Problem("forged", f"{label} is not genuine: {exc}"))
            continue
        problem = _check_external(label, cp, leaves, root_now)
        if problem:
            problems.append(problem)
    return problems


def check_head(contents: LogContents, witness: Path | None) -> list[Problem]:
    """The check before an append, linear in hashing and with one signature: the latest signed checkpoint
    covers exactly the entries there are, and the witness is a prefix. Any edit, removal or forgery
    changes the root, so it refuses what :func:`verify_contents` would (which also names the entry)."""
    _require_signing()
    leaves = contents.leaf_hashes()
    root_now = merkle.subtree_root(leaves)
    origin, key = contents.meta.get("origin", ""), _public_key(contents, None)
    latest = contents.latest_note()
    problems = _check_entries(contents.rows)
    if latest is None:
        if leaves:
            problems.append(Problem("forged", "entries without any signed checkpoint"))
    else:
        try:
            cp = verify_note(latest, origin, key)
            if (cp.size, cp.root) != (len(leaves), root_now):
                problems.append(Problem("edited", "the latest signed checkpoint does not match the entries"))
        except CheckpointError as exc:
            problems.append(Problem("forged", f"the latest checkpoint is not genuine: {exc}"))
    return problems + _check_externals(_externals(witness, ()), origin, key, leaves, root_now)


def describe(v: Verification) -> str:
    """JSON for ``audit verify --json``."""
    return json.dumps(
        {
            "log": v.path,
            "size": v.size,
            "root": v.root.hex(),
            "ok": v.ok,
            "problems": [{"kind": p.kind, "entry": p.entry, "message": p.message} for p in v.problems],
        },
        indent=2,
    )
