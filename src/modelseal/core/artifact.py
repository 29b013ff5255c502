"""The files of one model, with sizes and digests: what every later stage refers to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class FileEntry:
    """One file of an artifact. ``relpath`` is POSIX and relative to the artifact root."""

    relpath: str
    path: Path
    size: int
    digest: str | None = None
    """``"sha256:<hex>"``; None when hashing was turned off."""


@dataclass(frozen=True)
class Artifact:
    """A model as a set of files. ``root`` is a folder, or the file itself for a single-file model."""

    root: Path
    files: tuple[FileEntry, ...]
    source: str = ""
    """What the user typed (a path, ``hf://org/name@rev``)."""
    ignored: tuple[str, ...] = ()
    """Paths left out of the manifest on purpose, listed so nothing is skipped silently."""
    rejected: tuple[tuple[str, str], ...] = field(default=())
    """(relpath, reason) of entries refused while resolving (links leaving the root, unreadable)."""

    def with_digests(self, digests: Mapping[str, str | None]) -> Artifact:
        """The same files carrying the digests already computed for them (relpath → digest), so that a
        manifest, a lock check or a signature check reuses them instead of reading the files again."""
        files = tuple(replace(e, digest=digests.get(e.relpath) or e.digest) for e in self.files)
        return replace(self, files=files)
