"""A cache of file digests, so an unchanged model is not read again by ``lock``, ``sign``, ``scan``, ``gate``
or ``reverify``.

An entry is trusted only while the file provably has not changed: it is keyed by device, inode, size,
``mtime_ns`` and ``ctime_ns`` (``ctime`` cannot be set back by the file's owner, so rewriting a file with the
same size and restoring its mtime still misses) and by what was hashed (an algorithm, or a byte range of the
file). A digest is stored only when the file's status was the same before and after it was read, and when
its times are older than :data:`SETTLE_NS`: a file written within one timestamp tick of being hashed could
change again without its times moving. ``verify`` does not consult it unless told to.

SQLite in WAL mode makes concurrent runs safe (readers never block, writers wait briefly); the cache is
bounded (oldest-used entries are evicted), and any error in it (locked, corrupt, unwritable) makes it
behave as empty: digests are then computed, never guessed.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelseal.core.config import user_cache_folder

if TYPE_CHECKING:
    import sqlite3

ENV_PATH = "MODELSEAL_DIGEST_CACHE"
"""Where the cache lives (a SQLite file), instead of ``digests.sqlite`` in the user cache folder."""
ENV_OFF = "MODELSEAL_NO_DIGEST_CACHE"
"""Set (to anything but ``""``/``0``) to neither read nor write the cache, like ``--no-digest-cache``."""
MAX_ENTRIES = 200_000
"""About 40 MB of SQLite; past it the entries used longest ago go."""
SETTLE_NS = 2_000_000_000
"""A file whose mtime or ctime is this recent is not cached: 2 s covers the coarsest timestamps (FAT)."""


def _debug(message: str, *args: object) -> None:
    """Log a failure of the cache itself (imports logging only then: ``modelseal scan``'s start-up)."""
    import logging

    logging.getLogger(__name__).debug(message, *args)


_UNUSABLE = ("not a database", "malformed", "no such column", "has no column")
"""What makes an existing file worth replacing: not SQLite, damaged, or another layout."""
_HEX = re.compile(r"[0-9a-f]{16,128}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, what TEXT NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL, used INTEGER NOT NULL,
    PRIMARY KEY (dev, ino, what)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS digests_used ON digests (used);
"""


@dataclass(frozen=True)
class FileKey:
    """What proves a file unchanged since it was hashed."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def settled(self, now_ns: int, settle_ns: int = SETTLE_NS) -> bool:
        """Old enough that a later write must move its times."""
        return max(self.mtime_ns, self.ctime_ns) <= now_ns - settle_ns


class DigestCache:
    """Digests by :class:`FileKey` and what was hashed, in one SQLite file. Every method swallows the
    cache's own failures (logged at debug level): a broken cache costs time, never a wrong answer."""

    def __init__(self, path: Path, *, max_entries: int = MAX_ENTRIES, settle_ns: int = SETTLE_NS) -> None:
        self.path = path
        self.max_entries = max_entries
        self.settle_ns = settle_ns
        self._db: sqlite3.Connection | None = None
        self._opened = False
        self._lock = threading.Lock()  # one connection, shared by the hashing threads

    def _connect(self) -> sqlite3.Connection | None:
        """Open (once); a file that is not a usable database is replaced, once, by an empty one."""
        if self._opened:
            return self._db
        self._opened = True
        import sqlite3  # here: a scan that never consults the cache does not pay for the import

        for attempt in (1, 2):
            db = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                self._db = db
                return db
            except sqlite3.DatabaseError as exc:
                if db is not None:
                    db.close()
                _debug("digest cache %s unusable (%s)", self.path, exc)
                if attempt == 1 and any(w in str(exc) for w in _UNUSABLE):
                    _remove(self.path)
                    continue
                return None
            except (sqlite3.Error, OSError) as exc:
                _debug("digest cache %s cannot be opened (%s)", self.path, exc)
                return None
        return None

    def get_many(self, items: Sequence[tuple[FileKey, str]]) -> list[str | None]:
        """The cached hex digest of each (key, what), or None where the cache cannot vouch for it."""
        found: list[str | None] = [None] * len(items)
        with self._lock:
            db = self._connect()
            if db is not None and items:
                self._read(db, items, found)
        return found

    def _read(
        self, db: sqlite3.Connection, items: Sequence[tuple[FileKey, str]], found: list[str | None]
    ) -> None:
        import sqlite3

        try:
            hits: list[tuple[int, int, int, str]] = []
            now = time.time_ns()
            for i, (key, what) in enumerate(items):
                row = db.execute(
                    "SELECT size, mtime_ns, ctime_ns, digest FROM digests WHERE dev=? AND ino=? AND what=?",
                    (key.dev, key.ino, what),
                ).fetchone()
                if row is None or tuple(row[:3]) != (key.size, key.mtime_ns, key.ctime_ns):
                    continue
                if isinstance(row[3], str) and _HEX.fullmatch(row[3]):
                    found[i] = row[3]
                    hits.append((now, key.dev, key.ino, what))
            if hits:  # one transaction: in autocommit mode each row would be a commit of its own
                with db:
                    db.execute("BEGIN")
                    db.executemany("UPDATE digests SET used=? WHERE dev=? AND ino=? AND what=?", hits)
        except sqlite3.Error as exc:
            _debug("digest cache %s read failed (%s)", self.path, exc)

    def put_many(self, entries: Iterable[tuple[FileKey, str, str]]) -> None:
        """Store (key, what, hex digest) for files that had settled; then evict past the bound."""
        now = time.time_ns()
        rows = [
            (k.dev, k.ino, what, k.size, k.mtime_ns, k.ctime_ns, digest, now)
            for k, what, digest in entries
            if k.settled(now, self.settle_ns)
        ]
        if not rows:
            return
        with self._lock:
            db = self._connect()
            if db is not None:
                self._write(db, rows)

    def _write(
        self, db: sqlite3.Connection, rows: list[tuple[int, int, str, int, int, int, str, int]]
    ) -> None:
        import sqlite3

        try:
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                (count,) = db.execute("SELECT count(*) FROM digests").fetchone()
                if count > self.max_entries:  # down to 90 %, so that the next runs do not evict again
                    db.execute(
                        "DELETE FROM digests WHERE (dev, ino, what) IN "
                        "(SELECT dev, ino, what FROM digests ORDER BY used LIMIT ?)",
                        (count - self.max_entries * 9 // 10,),
                    )
        except sqlite3.Error as exc:
            _debug("digest cache %s write failed (%s)", self.path, exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db, self._opened = None, False


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):
            p.unlink(missing_ok=True)


_default: dict[tuple[int, Path], DigestCache] = {}


def default_cache() -> DigestCache | None:
    """The user's digest cache (``MODELSEAL_DIGEST_CACHE`` or the user cache folder), one per process;
    None when ``MODELSEAL_NO_DIGEST_CACHE`` is set."""
    if os.environ.get(ENV_OFF, "") not in ("", "0"):
        return None
    env = os.environ.get(ENV_PATH, "").strip()
    path = Path(env) if env else user_cache_folder() / "digests.sqlite"
    key = (os.getpid(), path)  # a forked worker opens its own connection
    if key not in _default:
        _default[key] = DigestCache(path)
    return _default[key]
