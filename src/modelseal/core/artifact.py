"""The files of one model, with sizes and digests: what every later stage refers to."""

from __future__ import annotations

from dataclasses import dataclass, field
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
