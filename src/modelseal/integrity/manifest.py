"""Manifests: every file of a model with its digest (hashed by :mod:`modelseal.core.hashing`), what was left
out, and one digest over it all; computed once, every later stage reuses them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelseal.core.artifact import Artifact
from modelseal.core.hashing import Range, hash_ranges, new_hasher

if TYPE_CHECKING:
    from modelseal.core.digestcache import DigestCache

DEFAULT_IGNORE = (".git",)
"""Ignored by default: a VCS folder is not model content. Unlike the OpenSSF reference tool,
``.gitattributes``, ``.gitignore`` and ``.github`` are hashed (they change how files are fetched), and what
is ignored is listed."""


def manifest_digest(entries: list[tuple[str, str]], algorithm: str = "sha256") -> str:
    """One digest for a whole model: over sorted ``relpath``/``digest`` pairs. A name that is not UTF-8 on
    disk (held as surrogate escapes, as ``os.fsdecode`` gives it) is hashed as its bytes on disk."""
    h = new_hasher(algorithm)
    for relpath, digest in sorted(entries):
        name = relpath.encode("utf-8", "surrogateescape")
        h.update(memoryview(name + b"\0" + digest.encode("ascii") + b"\n"))
    return f"{algorithm}:{h.hexdigest()}"


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
    cache: DigestCache | None = None,
) -> Manifest:
    """The manifest of an artifact. Digests already on a :class:`FileEntry` (same algorithm) are reused, then
    those ``cache`` vouches for."""
    kept = [e for e in artifact.files if not is_ignored(e.relpath, ignore)]
    ignored = sorted(
        {*artifact.ignored, *(e.relpath for e in artifact.files if is_ignored(e.relpath, ignore))}
    )
    prefix = f"{algorithm}:"
    todo = [e for e in kept if not (e.digest and e.digest.startswith(prefix))]
    fresh = hash_ranges([Range(e.path, 0, None, e.size) for e in todo], algorithm, workers, cache=cache)
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
