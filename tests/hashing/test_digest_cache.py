"""The digest cache: trusted only while the file's status proves it unchanged, safe under concurrent runs,
bounded, never a crash, and ignored by ``verify`` unless asked."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from modelseal.core import hashing
from modelseal.core.digestcache import ENV_OFF, ENV_PATH, DigestCache, FileKey, default_cache
from modelseal.core.hashing import Range, hash_file, hash_ranges, shard_ranges


class Reads:
    """Counts the files the hasher actually reads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[Path] = []
        real = hashing._digest

        def counting(path: Path, *args: object, **kwargs: object) -> tuple[str, FileKey | None]:
            self.paths.append(path)
            return real(path, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(hashing, "_digest", counting)


@pytest.fixture
def cache(tmp_path: Path) -> DigestCache:
    return DigestCache(tmp_path / "cache" / "digests.sqlite", settle_ns=0)


def _sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_unchanged_file_is_a_hit_without_reading(
    tmp_path: Path, cache: DigestCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights" * 1000)
    reads = Reads(monkeypatch)
    assert hash_file(path, cache=cache) == _sha(b"weights" * 1000)
    assert hash_file(path, cache=cache) == _sha(b"weights" * 1000)
    assert hash_file(path, "blake3" if _has_blake3() else "sha1", cache=cache)  # another algorithm: a miss
    assert len(reads.paths) == 2


def _has_blake3() -> bool:
    try:
        import blake3  # noqa: F401
    except ImportError:
        return False
    return True


def test_touch_and_same_size_rewrite_are_misses(
    tmp_path: Path, cache: DigestCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"a" * 4096)
    hash_file(path, cache=cache)
    reads = Reads(monkeypatch)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched: content the same
    assert hash_file(path, cache=cache) == _sha(b"a" * 4096)
    assert len(reads.paths) == 1
    st = path.stat()
    with open(path, "r+b") as f:  # rewritten in place, same size, mtime put back: only ctime moved
        f.write(b"b" * 4096)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size
    if path.stat().st_ctime_ns == st.st_ctime_ns:
        pytest.skip("this filesystem's ctime did not move (coarse clock)")
    assert hash_file(path, cache=cache) == _sha(b"b" * 4096)
    assert len(reads.paths) == 2


def test_a_file_replaced_by_rename_is_a_miss(tmp_path: Path, cache: DigestCache) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"old!")
    hash_file(path, cache=cache)
    new = tmp_path / "new"
    new.write_bytes(b"new!")
    os.utime(new, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    new.replace(path)
    assert hash_file(path, cache=cache) == _sha(b"new!")


def test_freshly_written_files_are_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file written within the settle window could change again without its times moving."""
    cache = DigestCache(tmp_path / "d.sqlite")  # the default 2 s window
    path = tmp_path / "w.bin"
    path.write_bytes(b"x" * 100)
    reads = Reads(monkeypatch)
    hash_file(path, cache=cache)
    hash_file(path, cache=cache)
    assert len(reads.paths) == 2


def test_shards_are_cached_by_range(
    tmp_path: Path, cache: DigestCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(10_000)
    path = tmp_path / "w.bin"
    path.write_bytes(data)
    ranges = shard_ranges(path, len(data), 3000)
    first = hash_ranges(ranges, cache=cache)
    whole = hash_ranges([Range(path, 0, None, len(data))], cache=cache)
    reads = Reads(monkeypatch)
    assert hash_ranges(ranges, cache=cache) == first
    assert hash_ranges([Range(path, 0, None, len(data))], cache=cache) == whole == [_sha(data)]
    assert first[1] == _sha(data[3000:6000]) and not reads.paths


def _fill(path: str, root: str, index: int) -> None:
    cache = DigestCache(Path(path), settle_ns=0)
    files = sorted(Path(root).iterdir())
    for i, f in enumerate(files):
        if i % 4 == index:  # each writer also reads the others' entries meanwhile
            hash_file(f, cache=cache)
        hash_ranges([Range(g, 0, None, 1) for g in files[:8]], workers=2, cache=cache)


def test_concurrent_writers_share_one_cache(tmp_path: Path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    for i in range(40):
        (root / f"{i:02d}").write_bytes(os.urandom(1000 + i))
    db = tmp_path / "d.sqlite"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_fill, args=(str(db), str(root), i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    rows = dict(sqlite3.connect(db).execute("SELECT ino, digest FROM digests WHERE what='sha256'").fetchall())
    for f in root.iterdir():
        assert rows[f.stat().st_ino] == hashlib.sha256(f.read_bytes()).hexdigest()


def test_the_cache_is_bounded_oldest_used_go_first(tmp_path: Path) -> None:
    cache = DigestCache(tmp_path / "d.sqlite", max_entries=10, settle_ns=0)
    paths = []
    for i in range(15):
        paths.append(tmp_path / f"{i:02d}")
        paths[-1].write_bytes(b"%d" % i)
    for p in paths[:10]:
        hash_file(p, cache=cache)
    time.sleep(0.01)
    hash_file(paths[0], cache=cache)  # used again: kept
    for p in paths[10:]:  # past the bound: down to 90 %, the entries used longest ago first
        hash_file(p, cache=cache)
    db = sqlite3.connect(cache.path)
    (count,) = db.execute("SELECT count(*) FROM digests").fetchone()
    kept = {row[0] for row in db.execute("SELECT ino FROM digests")}
    assert count <= 10
    assert paths[0].stat().st_ino in kept and paths[-1].stat().st_ino in kept
    assert paths[1].stat().st_ino not in kept


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b"this is not a database" * 100),
        lambda p: (
            p.unlink(),
            sqlite3.connect(p).executescript("CREATE TABLE digests (x); INSERT INTO digests VALUES (1)"),
        ),
        lambda p: p.write_bytes(p.read_bytes()[:2000] + os.urandom(6000)),
    ],
    ids=["garbage", "other-schema", "truncated"],
)
def test_a_damaged_cache_never_crashes_the_digests_are_computed(tmp_path: Path, damage: object) -> None:
    db = tmp_path / "d.sqlite"
    seed = DigestCache(db, settle_ns=0)
    other = tmp_path / "seed"
    other.write_bytes(b"seed")
    hash_file(other, cache=seed)
    seed.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    damage(db)  # type: ignore[operator]
    path = tmp_path / "w.bin"
    path.write_bytes(b"model")
    cache = DigestCache(db, settle_ns=0)
    assert hash_file(path, cache=cache) == _sha(b"model")
    assert hash_file(path, cache=cache) == _sha(b"model")
    cache.close()
    assert DigestCache(db).get_many([(FileKey.of(path.stat()), "sha256")]) == [_sha(b"model")[7:]]  # rebuilt


def test_a_forged_entry_with_a_bad_digest_is_not_used(tmp_path: Path, cache: DigestCache) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"model")
    cache.put_many([(FileKey.of(path.stat()), "sha256", "not hex; DROP TABLE")])
    assert hash_file(path, cache=cache) == _sha(b"model")


def test_an_unwritable_cache_location_costs_time_not_correctness(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    cache = DigestCache(tmp_path / "file" / "d.sqlite", settle_ns=0)  # its folder is a file
    path = tmp_path / "w.bin"
    path.write_bytes(b"model")
    assert hash_file(path, cache=cache) == _sha(b"model")


def test_default_cache_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PATH, str(tmp_path / "here.sqlite"))
    found = default_cache()
    assert found is not None and found.path == tmp_path / "here.sqlite"
    monkeypatch.setenv(ENV_OFF, "1")
    assert default_cache() is None
    monkeypatch.setenv(ENV_OFF, "0")
    assert default_cache() is not None
    monkeypatch.delenv(ENV_PATH)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_cache().path == tmp_path / "xdg" / "modelseal" / "digests.sqlite"  # type: ignore[union-attr]
