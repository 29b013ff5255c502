"""What every source is: a plugin that turns one kind of target into an :class:`Artifact`.

A source is chosen by the target's scheme (``hf://``, ``s3://``; a plain path for local files, folders and
Hugging Face cache snapshots) in :mod:`modelseal.sources.resolve`. Each source is one sibling module here;
adding one (a model registry, an OCI artifact) is a module and a line in ``SOURCES``. Sources are the only
code that knows about hubs, buckets and caches; every later stage sees a :class:`Resolved`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from modelseal.core.artifact import Artifact
from modelseal.core.errors import SourceError as SourceError  # the one error base of this family


@dataclass(frozen=True)
class ResolveOptions:
    """How to resolve, the same for every source."""

    max_files: int = 1_000_000
    """More files than this is an error (``limits.max_files``), before anything is hashed or downloaded."""
    offline: bool = False
    """Use local copies (the Hugging Face cache) only; never the network."""
    cache_dir: Path | None = None
    """Where a remote source keeps its copies (the Hugging Face hub cache, the S3 download folder)."""


@dataclass(frozen=True)
class Resolved:
    """A target resolved into files, with what resolution learned about where they came from."""

    artifact: Artifact
    lock_key: str
    """The key of this model in ``modelseal.lock``: ``hf://org/name`` (no revision), ``s3://bucket/prefix``
    or the path as typed."""
    model_id: str | None = None
    """``org/name`` for hub targets and cache snapshots: what name checks and reputation look at."""
    revision: str | None = None
    """The commit a hub revision resolved to (or a cache snapshot is named after)."""
    repo_uid: str | None = None
    """The hub's immutable repo id (survives renames, differs after delete-and-recreate); online only."""
    snapshot: Path | None = None
    """The Hugging Face cache snapshot folder, whose blob names are a record to check the files against."""


class Source(ABC):
    """One kind of target. Implementations are stateless; ``scheme`` is what selects them."""

    scheme: ClassVar[str]
    """The prefix of the targets it resolves (``hf://``); empty for local paths."""

    @abstractmethod
    def resolve(self, target: str, options: ResolveOptions) -> Resolved:
        """Find (download, for a remote source) the files of ``target``; :class:`SourceError` if it cannot."""

    def lock_key(self, target: str) -> str:
        """The lockfile key of ``target`` without resolving it; the target as typed unless overridden."""
        return target
