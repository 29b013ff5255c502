"""The lockfile hook: a guarded load also checks what it reads against its pinned lock entry.

The guard only needs a callable ``(path) -> findings``; :func:`lockfile_verifier` builds it from the
integrity area's lockfile. A file inside a locked folder is checked against its own pinned digest (one
hash, not the whole folder), so loading one shard of a large model stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding

LockVerifier = Callable[[Path], Sequence[Finding]]
"""Returns findings (digest mismatch, file missing from the lock) for one file or folder about to load."""


def lockfile_verifier(lockfile: Path) -> LockVerifier:
    """Read ``lockfile`` now (a bad lockfile fails at ``guard()`` time) and check each load against it."""
    from modelseal.integrity.lockfile import read_lock

    lock = read_lock(lockfile)
    # local entries are keyed relative to the lockfile's folder (``modelseal lock`` writes them so)
    roots = [((lockfile.parent / e.source).resolve(), e) for e in lock.entries if "://" not in e.source]

    def check(target: Path) -> Sequence[Finding]:
        from modelseal.core.hashing import hash_file
        from modelseal.integrity.lockfile import check_lock
        from modelseal.sources.resolve import resolve

        real = target.resolve()
        for root, entry in roots:
            if real == root:
                return check_lock(resolve(str(real)).artifact, entry).findings()
            if root in real.parents:
                relpath = real.relative_to(root).as_posix()
                pinned = dict(entry.files).get(relpath)
                if pinned is None:
                    return (_mismatch(target, f"{relpath} is not pinned in the entry for {entry.source}"),)
                found = hash_file(real, entry.algorithm)
                if found != pinned:
                    return (_mismatch(target, f"{relpath} has digest {found}, locked {pinned}"),)
                return ()
        return (_mismatch(target, f"{target} has no entry in {lockfile}"),)

    return check


def _mismatch(target: Path, message: str) -> Finding:
    return make_finding("MS-LOCK-MISMATCH", message, file=str(target))
