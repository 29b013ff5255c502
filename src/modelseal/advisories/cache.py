"""The local advisory cache: one SQLite file, indexed by digest and by package name.

A sync is one transaction: every record of every source is read and checked first-to-last inside it, and
any bad record, or a sync that would withdraw most of what is active, rolls it back, so the previous cache
stays whole. Digests are stored as their 32 raw bytes; a look-up of 100 000 digests is a few hundred indexed
``IN`` queries. ``generation`` counts syncs that changed something, so ``reverify`` can tell a changed cache.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from modelseal.advisories import default_cache_path
from modelseal.advisories.osv import Advisory, Event, FeedError, PackageRange
from modelseal.core.errors import ModelsealError
from modelseal.core.findings import Severity


class CacheError(ModelsealError):
    """The cache file cannot be read as a cache (damaged, not SQLite, unreadable)."""

    hint = "delete the cache file named above and run `modelseal advisories sync` again"


@contextmanager
def _usable(path: Path) -> Iterator[None]:
    try:
        yield
    except (sqlite3.DatabaseError, OSError) as exc:
        raise CacheError(f"{path}: not a usable advisory cache ({exc})") from None


SCHEMA = 1
MASS_WITHDRAWAL = 0.5
"""A sync that withdraws more than this share of the active advisories (at least two) is rejected."""
_BATCH = 500
_KINDS = ("file", "manifest")
_DIGEST_QUERY = (
    "SELECT d.digest, d.kind, a.id, a.summary, a.severity, a.malicious, a.weights_only, a.models"
    " FROM digests d JOIN advisories a ON a.n = d.advisory WHERE d.digest IN ({}) AND a.withdrawn IS NULL"
)

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advisories (
    n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, modified TEXT NOT NULL, withdrawn TEXT,
    severity INTEGER NOT NULL, malicious INTEGER NOT NULL, weights_only INTEGER NOT NULL,
    summary TEXT NOT NULL, models TEXT NOT NULL, aliases TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS digests (digest BLOB NOT NULL, kind INTEGER NOT NULL, advisory INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS digests_by_digest ON digests (digest);
CREATE TABLE IF NOT EXISTS packages (name TEXT NOT NULL, advisory INTEGER NOT NULL, affected TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS packages_by_name ON packages (name);
"""


@dataclass(frozen=True)
class Hit:
    """One advisory that lists a digest or a package version."""

    advisory: str
    summary: str
    severity: Severity
    malicious: bool
    bypasses_weights_only: bool
    models: tuple[str, ...]
    kind: str = ""
    """``file`` or ``manifest`` for a digest hit; empty for a package hit."""
    digest: str = ""


@dataclass(frozen=True)
class SyncReport:
    sources: tuple[str, ...]
    read: int
    added: int
    updated: int
    withdrawn: int
    active: int
    synced_at: str
    generation: int


@dataclass(frozen=True)
class CacheStatus:
    path: Path
    synced_at: datetime | None
    active: int
    withdrawn: int
    generation: int
    sources: tuple[str, ...]

    def age_days(self, now: datetime | None = None) -> float | None:
        if self.synced_at is None:
            return None
        return ((now or datetime.now(timezone.utc)) - self.synced_at).total_seconds() / 86400


class AdvisoryCache:
    """An open cache. Use :meth:`open` (creates it) or :meth:`existing` (None when there is none)."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path, self.db = path, db

    @classmethod
    def open(cls, path: Path | None = None, *, write: bool = True) -> AdvisoryCache:
        """Open (creating it when ``write``) the cache; ``write=False`` opens read-only, so checking works
        on a cache mounted read-only. :class:`CacheError` when the file is not a cache."""
        path = path or default_cache_path()
        with _usable(path):
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(path, isolation_level=None)
                db.executescript(_DDL)
            else:
                db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
                db.execute("SELECT value FROM meta LIMIT 1")
        return cls(path, db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> AdvisoryCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def status(self) -> CacheStatus:
        with _usable(self.path):
            return self._status()

    def _status(self) -> CacheStatus:
        synced = self._meta("synced_at")
        active, withdrawn = self.db.execute(
            "SELECT COUNT(*) - COUNT(withdrawn), COUNT(withdrawn) FROM advisories"
        ).fetchone()
        return CacheStatus(
            self.path,
            datetime.fromisoformat(synced) if synced else None,
            int(active),
            int(withdrawn),
            int(self._meta("generation", "0")),
            tuple(json.loads(self._meta("sources", "[]"))),
        )

    def sync(
        self, feeds: Iterable[tuple[str, Iterable[Advisory]]], *, allow_mass_withdrawal: bool = False
    ) -> SyncReport:
        """Merge ``(source, advisories)`` pairs in one transaction (a record replaces one with the same id
        when it is newer). Raises :class:`FeedError` and leaves the cache as it was on any bad record."""
        db = self.db
        before = self.status()
        with _usable(self.path):
            return self._sync(db, before, feeds, allow_mass_withdrawal)

    def _sync(
        self,
        db: sqlite3.Connection,
        before: CacheStatus,
        feeds: Iterable[tuple[str, Iterable[Advisory]]],
        allow_mass_withdrawal: bool,
    ) -> SyncReport:
        sources: list[str] = []
        read = added = updated = withdrawn = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            for source, advisories in feeds:
                sources.append(source)
                for batch in _batches(advisories):
                    read += len(batch)
                    changes = self._upsert(batch)
                    added += changes.count("added")
                    updated += changes.count("updated") + changes.count("withdrawn")
                    withdrawn += changes.count("withdrawn")
            if (
                not allow_mass_withdrawal
                and before.active >= 2
                and withdrawn > max(1, before.active * MASS_WITHDRAWAL)
            ):
                raise FeedError(
                    ", ".join(sources),
                    "withdrawn",
                    f"would withdraw {withdrawn} of {before.active} active advisories; "
                    "refused (pass --allow-mass-withdrawal if that is meant)",
                )
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            generation = before.generation + (1 if added or updated else 0)
            known = sorted({*before.sources, *sources})
            for key, value in (
                ("synced_at", now),
                ("generation", str(generation)),
                ("sources", json.dumps(known)),
            ):
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        status = self.status()
        return SyncReport(tuple(sources), read, added, updated, withdrawn, status.active, now, generation)

    def _upsert(self, batch: list[Advisory]) -> list[str]:
        """Write a batch of records (a few queries per batch, not per record); what each one changed:
        ``added``, ``updated``, ``withdrawn`` or ``unchanged`` (not newer than the stored record)."""
        db = self.db
        newest: dict[str, Advisory] = {}
        for adv in batch:  # the newest of repeated ids within the batch
            kept = newest.get(adv.id)
            if kept is None or _when(adv.modified) > _when(kept.modified):
                newest[adv.id] = adv
        ids = list(newest)
        stored: dict[str, tuple[int, str, str | None]] = {}
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            marks = ",".join("?" * len(chunk))
            for ident, n, modified, withdrawn in db.execute(
                f"SELECT id, n, modified, withdrawn FROM advisories WHERE id IN ({marks})", chunk
            ):
                stored[ident] = (n, modified, withdrawn)
        changes: dict[str, str] = {}
        replaced: list[tuple[int]] = []
        for ident, adv in newest.items():
            if ident not in stored:
                changes[ident] = "added"
                continue
            n, modified, was_withdrawn = stored[ident]
            if _when(modified) >= _when(adv.modified):
                changes[ident] = "unchanged"
                continue
            changes[ident] = "withdrawn" if adv.withdrawn and not was_withdrawn else "updated"
            replaced.append((n,))
        for table, column in (("advisories", "n"), ("digests", "advisory"), ("packages", "advisory")):
            db.executemany(f"DELETE FROM {table} WHERE {column} = ?", replaced)
        fresh = [newest[i] for i, change in changes.items() if change != "unchanged"]
        first = int(db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM advisories").fetchone()[0])
        numbered = list(enumerate(fresh, first))
        db.executemany(
            "INSERT INTO advisories (n, id, modified, withdrawn, severity, malicious, weights_only, summary,"
            " models, aliases) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    n,
                    adv.id,
                    adv.modified,
                    adv.withdrawn,
                    int(adv.severity),
                    int(adv.malicious),
                    int(adv.bypasses_weights_only),
                    adv.summary[:500],
                    json.dumps(adv.models),
                    json.dumps(adv.aliases),
                )
                for n, adv in numbered
            ],
        )
        db.executemany(
            "INSERT INTO digests VALUES (?, ?, ?)",
            [
                (bytes.fromhex(d[7:]), kind, n)
                for n, adv in numbered
                for kind, listed in enumerate((adv.files, adv.manifests))
                for d in listed
            ],
        )
        db.executemany(
            "INSERT INTO packages VALUES (?, ?, ?)",
            [
                (
                    p.name,
                    n,
                    json.dumps([[[e.kind, e.version] for e in r] for r in p.ranges] + [list(p.versions)]),
                )
                for n, adv in numbered
                for p in adv.packages
            ],
        )
        return [changes[adv.id] if adv is newest[adv.id] else "unchanged" for adv in batch]

    def digest_hits(self, digests: Iterable[str]) -> dict[str, list[Hit]]:
        """Active advisories listing each ``sha256:<hex>`` digest (others are left out of the answer)."""
        wanted = sorted({bytes.fromhex(d[7:]) for d in digests if d.startswith("sha256:") and len(d) == 71})
        found: dict[str, list[Hit]] = {}
        with _usable(self.path):
            for start in range(0, len(wanted), _BATCH):  # indexed IN queries beat a temporary-table join
                chunk = wanted[start : start + _BATCH]
                marks = ",".join("?" * len(chunk))
                for row in self.db.execute(_DIGEST_QUERY.format(marks), chunk):
                    digest = "sha256:" + bytes(row[0]).hex()
                    found.setdefault(digest, []).append(_hit(row[2:], _KINDS[row[1]], digest))
        return found
        with _usable(self.path):
            if len(wanted) <= _BATCH:
                marks = ",".join("?" * len(wanted))
                rows = self.db.execute(_DIGEST_QUERY.format(f"IN ({marks})"), sorted(wanted))
            else:  # one join in SQLite's own loop instead of hundreds of IN queries
                self.db.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS wanted (digest BLOB PRIMARY KEY) WITHOUT ROWID"
                )
                self.db.execute("DELETE FROM temp.wanted")
                self.db.executemany("INSERT INTO temp.wanted VALUES (?)", ((d,) for d in wanted))
                rows = self.db.execute(_DIGEST_QUERY.format("IN (SELECT digest FROM temp.wanted)"))
            for row in rows:
                digest = "sha256:" + bytes(row[0]).hex()
                found.setdefault(digest, []).append(_hit(row[2:], _KINDS[row[1]], digest))
        return found

    def package_advisories(self, name: str) -> list[tuple[Hit, PackageRange]]:
        """Active advisories naming PyPI package ``name`` (canonical), with what each says is affected."""
        with _usable(self.path):
            rows = self.db.execute(
                "SELECT a.id, a.summary, a.severity, a.malicious, a.weights_only, a.models, p.affected FROM"
                " packages p JOIN advisories a ON a.n = p.advisory WHERE p.name = ? AND a.withdrawn IS NULL",
                (name,),
            ).fetchall()
        out = []
        for row in rows:
            *ranges, versions = json.loads(row[6])
            package = PackageRange(
                name, tuple(tuple(Event(k, v) for k, v in r) for r in ranges), tuple(versions)
            )
            out.append((_hit(row[:6]), package))
        return out


def _batches(advisories: Iterable[Advisory], size: int = 5000) -> Iterator[list[Advisory]]:
    batch: list[Advisory] = []
    for adv in advisories:
        batch.append(adv)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _hit(row: tuple[object, ...], kind: str = "", digest: str = "") -> Hit:
    ident, summary, severity, malicious, weights_only, models = row
    return Hit(
        str(ident),
        str(summary),
        Severity(int(str(severity))),
        bool(malicious),
        bool(weights_only),
        tuple(json.loads(str(models))),
        kind,
        digest,
    )


def _when(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
