"""Streamed file hashing: one place computes digests, every later stage reuses them.

Files are read with one bounded buffer per worker thread (never mmap, whose page cache makes memory look
like the file size). Work items are whole files or byte ranges of a file (shards); they run on a thread
pool, largest first, because hashlib and blake3 release the GIL while they digest a buffer.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from modelseal.core.artifact import Artifact
from modelseal.core.cpus import usable_cpus
from modelseal.core.errors import ModelsealError
from modelseal.core.extras import require

BUFFER = 1 << 20
ALGORITHMS = ("sha256", "blake3")
DEFAULT_IGNORE = (".git",)
"""Ignored by default: a VCS folder is not model content. Unlike the OpenSSF reference tool,
``.gitattributes``, ``.gitignore`` and ``.github`` are hashed (they change how files are fetched), and what
is ignored is listed."""


class _Hasher(Protocol):
    def update(self, data: memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str) -> _Hasher:
    """A streaming hasher; BLAKE3 comes from the optional ``blake3`` package."""
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "blake3":
        require("blake3", "blake3", feature="BLAKE3")
        from blake3 import blake3

        hasher: _Hasher = blake3()
        return hasher
    if algorithm in hashlib.algorithms_guaranteed:
        return hashlib.new(algorithm)
    raise ModelsealError(f"unknown hash algorithm {algorithm!r}; choose one of: {', '.join(ALGORITHMS)}")


_local = threading.local()


def _buffer() -> bytearray:
    """One read buffer per thread, so memory is ``threads × BUFFER`` whatever the model size."""
    buf: bytearray | None = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(BUFFER)
    return buf


def hash_range(
    path: Path, start: int = 0, end: int | None = None, algorithm: str = "sha256", *, prefix: bytes = b""
) -> str:
    """``"<algorithm>:<hex>"`` of ``prefix`` then bytes ``[start, end)`` of a file (to its end when ``end`` is
    None). ``prefix`` serves object formats that hash a header first, such as git blobs."""
    h = new_hasher(algorithm)
    if prefix:
        h.update(memoryview(prefix))
    buf = _buffer()
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        if start:
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
    return f"{algorithm}:{h.hexdigest()}"


def hash_bytes(data: bytes, algorithm: str = "sha256") -> str:
    """``"<algorithm>:<hex>"`` of bytes already in memory (a small file read whole by the scan)."""
    h = new_hasher(algorithm)
    h.update(memoryview(data))
    return f"{algorithm}:{h.hexdigest()}"


def hash_file(path: Path, algorithm: str = "sha256") -> str:
    """``"<algorithm>:<hex>"`` of a file, read with a bounded buffer."""
    return hash_range(path, 0, None, algorithm)


def manifest_digest(entries: list[tuple[str, str]], algorithm: str = "sha256") -> str:
    """One digest for a whole model: over sorted ``relpath``/``digest`` pairs. A name that is not UTF-8 on
    disk (held as surrogate escapes, as ``os.fsdecode`` gives it) is hashed as its bytes on disk."""
    h = new_hasher(algorithm)
    for relpath, digest in sorted(entries):
        name = relpath.encode("utf-8", "surrogateescape")
        h.update(memoryview(name + b"\0" + digest.encode("ascii") + b"\n"))
    return f"{algorithm}:{h.hexdigest()}"


@dataclass(frozen=True)
class Range:
    """A unit of hashing work: bytes ``[start, end)`` of one file (to its end when ``end`` is None)."""

    path: Path
    start: int
    end: int | None
    weight: int
    """Expected bytes, to schedule the largest ranges first."""


def hash_ranges(ranges: Sequence[Range], algorithm: str = "sha256", workers: int | None = None) -> list[str]:
    """Digests of many ranges, in input order, on a thread pool fed largest first (less idle time at the end).

    Whole files cannot be split (SHA-256 is sequential), so a single huge file bounds the wall time of the
    ``files`` serialisation; the ``shards`` serialisation splits it."""
    new_hasher(algorithm)  # fail early on an unknown or missing algorithm
    order = sorted(range(len(ranges)), key=lambda i: ranges[i].weight, reverse=True)
    results: list[str] = [""] * len(ranges)
    n = min(workers or usable_cpus(), max(1, len(ranges)))

    def run(i: int) -> None:
        r = ranges[i]
        results[i] = hash_range(r.path, r.start, r.end, algorithm)

    if n == 1:
        for i in order:
            run(i)
        return results
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="modelseal-hash") as pool:
        for future in [pool.submit(run, i) for i in order]:
            future.result()
    return results


def shard_ranges(path: Path, size: int, shard_size: int) -> list[Range]:
    """Split a file into ``shard_size`` pieces like the OpenSSF ``shards`` serialisation (none if empty)."""
    if shard_size <= 0:
        raise ModelsealError(f"shard size must be positive, got {shard_size}")
    return [
        Range(path, start, min(start + shard_size, size), min(shard_size, size - start))
        for start in range(0, size, shard_size)
    ]


def is_ignored(relpath: str, patterns: Iterable[str]) -> bool:
    """True when ``relpath`` is a pattern or lies below one (POSIX patterns relative to the root)."""
    return any(relpath == p or relpath.startswith(p.rstrip("/") + "/") for p in patterns)


@dataclass(frozen=True)
class FileDigest:
    relpath: str
    size: int
    digest: str
    """``"<algorithm>:<hex>"`` of the whole file."""


@dataclass(frozen=True)
class Manifest:
    """Every file of a model with its digest, what was left out, and one digest over it all."""

    algorithm: str
    files: tuple[FileDigest, ...]
    digest: str
    """:func:`manifest_digest` over ``files``: identifies the whole model."""
    ignored: tuple[str, ...] = ()
    """Files present but left out on purpose (``ignore`` patterns), listed so nothing is skipped silently."""
    ignore_patterns: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()
    """(relpath, reason) refused while resolving, such as links leaving the model or the cache."""

    def digests(self) -> dict[str, str]:
        return {f.relpath: f.digest for f in self.files}


def with_digests_of(artifact: Artifact, manifest: Manifest | None, algorithm: str) -> Artifact:
    """The artifact with the digests of ``manifest`` on its files, so that :func:`manifest_for` reuses them
    whatever it ignores. Unchanged when there is no manifest or it was hashed with another algorithm (the
    digests already on the files are then kept)."""
    if manifest is None or manifest.algorithm != algorithm:
        return artifact
    return artifact.with_digests(manifest.digests())


def manifest_for(
    artifact: Artifact,
    algorithm: str = "sha256",
    *,
    ignore: Sequence[str] = DEFAULT_IGNORE,
    workers: int | None = None,
) -> Manifest:
    """The manifest of an artifact. Digests already on a :class:`FileEntry` (same algorithm) are reused."""
    kept = [e for e in artifact.files if not is_ignored(e.relpath, ignore)]
    ignored = sorted(
        {*artifact.ignored, *(e.relpath for e in artifact.files if is_ignored(e.relpath, ignore))}
    )
    prefix = f"{algorithm}:"
    todo = [e for e in kept if not (e.digest and e.digest.startswith(prefix))]
    fresh = hash_ranges([Range(e.path, 0, None, e.size) for e in todo], algorithm, workers)
    computed = {e.relpath: d for e, d in zip(todo, fresh, strict=True)}
    files = tuple(
        FileDigest(e.relpath, e.size, computed.get(e.relpath) or e.digest or "")
        for e in sorted(kept, key=lambda e: e.relpath)
    )
    return Manifest(
        algorithm=algorithm,
        files=files,
        digest=manifest_digest([(f.relpath, f.digest) for f in files], algorithm),
        ignored=tuple(ignored),
        ignore_patterns=tuple(ignore),
        rejected=artifact.rejected,
    )
