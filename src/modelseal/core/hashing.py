"""The one file hasher: ``sign``, ``lock``, ``verify``, ``scan``, ``gate``, ``reverify`` and the Hugging Face
cache check all read files through here.

Ranges of :data:`MAP_BYTES` or more are hashed from the page cache through read-only memory maps of
:data:`WINDOW` bytes at a time: one ``update`` per window runs in C with the GIL released, and nothing is
copied (``bench/bench_hashing.py --sweep``: about 12 % less CPU per byte than ``readinto``, for SHA-256
and BLAKE3 alike; SHA-256 then runs at ``openssl speed``). Windows bound what is mapped (threads x
window) whatever the model size. Smaller ranges, and files the OS will not map, are read with ``readinto``
into one reused :data:`BUFFER` per thread. Caveat of any mapping: a file truncated by another process
while its window is hashed ends this process with SIGBUS (it fails, never passes); one found shorter
before a window is read, as any file that changed meanwhile.

Work items are whole files or byte ranges of a file (the OpenSSF ``shards`` method); they run on a thread
pool, largest first, so the small ones fill the gaps at the end. SHA-256 of one whole file is sequential
(one core); a BLAKE3 range of :data:`BLAKE3_THREADED_BYTES` or more is hashed on every core by BLAKE3's own
tree. With a :class:`~modelseal.core.digestcache.DigestCache`, a file whose status proves it unchanged is
not read.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelseal.core.cpus import usable_cpus
from modelseal.core.errors import ModelsealError

if TYPE_CHECKING:  # the cache is imported when a file is hashed, not for bytes in memory
    from io import FileIO
    from typing import Protocol

    from modelseal.core.digestcache import DigestCache, FileKey

    class _Hasher(Protocol):
        def update(self, data: memoryview, /) -> object: ...

        def hexdigest(self) -> str: ...


BUFFER = 128 << 10
"""``readinto`` buffer for ranges below :data:`MAP_BYTES`: fits the core's L2 cache."""
MAP_BYTES = 1 << 20
"""From this size a range is hashed through memory maps (below it, map calls cost as much as the copies)."""
WINDOW = 64 << 20
"""Bytes mapped and hashed per ``update``: large enough that map calls cost nothing, small enough to bound
the mapped memory."""
ALGORITHMS = ("sha256", "blake3")
BLAKE3_THREADED_BYTES = 64 << 20
"""From this size a BLAKE3 range uses every core (BLAKE3's tree, on its shared thread pool)."""


def new_hasher(algorithm: str, *, threaded: bool = False) -> _Hasher:
    """A streaming hasher; BLAKE3 comes from the optional ``blake3`` package (``threaded``: on all cores)."""
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "blake3":
        from modelseal.core.extras import require

        require("blake3", "blake3", feature="BLAKE3")
        from blake3 import blake3

        hasher: _Hasher = blake3(max_threads=blake3.AUTO if threaded else 1)
        return hasher
    if algorithm in hashlib.algorithms_guaranteed:
        return hashlib.new(algorithm)
    raise ModelsealError(f"unknown hash algorithm {algorithm!r}; choose one of: {', '.join(ALGORITHMS)}")


_local = threading.local()


def _buffer() -> bytearray:
    """One read buffer per thread, so memory is ``threads x buffer`` whatever the model size."""
    buf: bytearray | None = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(BUFFER)
    return buf


def _mapped(f: FileIO, h: _Hasher, start: int, end: int) -> int:
    """Feed bytes ``[start, end)`` to ``h`` one mapped window at a time; where the bytes stopped: ``end``,
    or earlier when the OS does not map this file or it is shorter now (the caller reads the rest, and a
    read that comes up short is the error)."""
    import mmap

    fd, grain = f.fileno(), mmap.ALLOCATIONGRANULARITY
    pos = start
    while pos < end:
        n = min(WINDOW, end - pos)
        skip = pos % grain  # a map starts on a granule; shards need not
        try:
            m = mmap.mmap(fd, skip + n, access=mmap.ACCESS_READ, offset=pos - skip)
        except (OSError, ValueError):  # no mmap on this file system, or the file shrank: read
            return pos
        with m, memoryview(m) as whole, whole[skip:] as view:
            if hasattr(m, "madvise"):
                m.madvise(mmap.MADV_SEQUENTIAL)
            h.update(view)
        pos += n
    return pos


def _read(f: FileIO, h: _Hasher, path: Path, start: int, end: int | None) -> None:
    """Feed bytes ``[start, end)`` (to the end of the file when ``end`` is None) to ``h`` by ``readinto``."""
    buf = _buffer()
    view = memoryview(buf)
    f.seek(start)
    left = -1 if end is None else end - start
    while left:
        n = f.readinto(buf if left < 0 or left >= BUFFER else view[:left])
        if not n:
            if left > 0:
                raise ModelsealError(f"{path}: file shrank while being hashed (wanted {left} more bytes)")
            break
        h.update(view[:n])
        if left > 0:
            left -= n


def _digest(
    path: Path, start: int, end: int | None, algorithm: str, prefix: bytes = b""
) -> tuple[str, FileKey | None]:
    """``"<algorithm>:<hex>"`` of ``prefix`` then bytes ``[start, end)``, and the file's key when its status
    was the same before and after the read (else None: it changed meanwhile and must not be cached)."""
    from modelseal.core.digestcache import FileKey

    with open(path, "rb", buffering=0) as f:
        before = os.fstat(f.fileno())
        stop = before.st_size if end is None else end
        length = stop - start
        h = new_hasher(algorithm, threaded=algorithm == "blake3" and length >= BLAKE3_THREADED_BYTES)
        if prefix:
            h.update(memoryview(prefix))
        pos = start
        if length >= MAP_BYTES and stat.S_ISREG(before.st_mode):
            pos = _mapped(f, h, start, stop)
        if pos < stop or end is None:  # the rest, and whatever a whole file grew by meanwhile
            _read(f, h, path, pos, end)
        key = FileKey.of(before)
        unchanged = FileKey.of(os.fstat(f.fileno())) == key
    return f"{algorithm}:{h.hexdigest()}", key if unchanged else None


def hash_range(
    path: Path, start: int = 0, end: int | None = None, algorithm: str = "sha256", *, prefix: bytes = b""
) -> str:
    """``"<algorithm>:<hex>"`` of ``prefix`` then bytes ``[start, end)`` of a file (to its end when ``end`` is
    None). ``prefix`` serves object formats that hash a header first, such as git blobs."""
    return _digest(path, start, end, algorithm, prefix)[0]


def hash_bytes(data: bytes, algorithm: str = "sha256") -> str:
    """``"<algorithm>:<hex>"`` of bytes already in memory (a small file read whole by the scan)."""
    h = new_hasher(algorithm)
    h.update(memoryview(data))
    return f"{algorithm}:{h.hexdigest()}"


def hash_file(path: Path, algorithm: str = "sha256", *, cache: DigestCache | None = None) -> str:
    """``"<algorithm>:<hex>"`` of a file, read through bounded windows (or found in ``cache``)."""
    return hash_ranges([Range(path, 0, None, 0)], algorithm, 1, cache=cache)[0]


@dataclass(frozen=True)
class Range:
    """A unit of hashing work: bytes ``[start, end)`` of one file (to its end when ``end`` is None)."""

    path: Path
    start: int
    end: int | None
    weight: int
    """Expected bytes, to schedule the largest ranges first."""

    def what(self, algorithm: str) -> str:
        """What a digest of this range is cached as: the algorithm, and the range unless it is the file."""
        return algorithm if self.start == 0 and self.end is None else f"{algorithm}[{self.start}:{self.end}]"


def _cached(ranges: Sequence[Range], algorithm: str, cache: DigestCache) -> list[str | None]:
    """Digests ``cache`` vouches for, by the files' status now (a file that cannot be stat'ed is hashed,
    which then reports the error)."""
    from modelseal.core.digestcache import FileKey

    stats: dict[Path, FileKey | None] = {}
    asks: list[tuple[int, tuple[FileKey, str]]] = []
    for i, r in enumerate(ranges):
        if r.path not in stats:
            try:
                stats[r.path] = FileKey.of(os.stat(r.path))
            except OSError:
                stats[r.path] = None
        key = stats[r.path]
        if key is not None:
            asks.append((i, (key, r.what(algorithm))))
    found: list[str | None] = [None] * len(ranges)
    for (i, _), hexdigest in zip(asks, cache.get_many([a for _, a in asks]), strict=True):
        found[i] = None if hexdigest is None else f"{algorithm}:{hexdigest}"
    return found


def hash_ranges(
    ranges: Sequence[Range],
    algorithm: str = "sha256",
    workers: int | None = None,
    *,
    cache: DigestCache | None = None,
) -> list[str]:
    """Digests of many ranges, in input order, on a thread pool fed largest first (less idle time at the end).

    Whole files cannot be split (SHA-256 is sequential), so a single huge file bounds the wall time of the
    ``files`` serialisation; the ``shards`` serialisation splits it. ``cache`` supplies the digests of
    unchanged files and learns the new ones."""
    new_hasher(algorithm)  # fail early on an unknown or missing algorithm
    results: list[str | None] = _cached(ranges, algorithm, cache) if cache else [None] * len(ranges)
    todo = sorted(
        (i for i, d in enumerate(results) if d is None), key=lambda i: ranges[i].weight, reverse=True
    )
    keys: list[FileKey | None] = [None] * len(ranges)
    n = min(workers or usable_cpus(), max(1, len(todo)))

    def run(i: int) -> None:
        r = ranges[i]
        results[i], keys[i] = _digest(r.path, r.start, r.end, algorithm)

    if n == 1:
        for i in todo:
            run(i)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="modelseal-hash") as pool:
            for future in [pool.submit(run, i) for i in todo]:
                future.result()
    if cache and todo:
        learned = [(k, ranges[i].what(algorithm), results[i]) for i in todo if (k := keys[i]) is not None]
        cache.put_many((k, what, str(d).split(":", 1)[1]) for k, what, d in learned)
    return [str(d) for d in results]


def shard_ranges(path: Path, size: int, shard_size: int) -> list[Range]:
    """Split a file into ``shard_size`` pieces like the OpenSSF ``shards`` serialisation (none if empty)."""
    if shard_size <= 0:
        raise ModelsealError(f"shard size must be positive, got {shard_size}")
    return [
        Range(path, start, min(start + shard_size, size), min(shard_size, size - start))
        for start in range(0, size, shard_size)
    ]
