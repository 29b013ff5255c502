"""Local files and folders, with links confined to the model (or to the cache repo a snapshot lives in)."""

from __future__ import annotations

from pathlib import Path

from modelseal.core.artifact import Artifact
from modelseal.sources.hflayout import containing_repo
from modelseal.sources.interface import Resolved, ResolveOptions, Source
from modelseal.sources.walk import walk


class LocalSource(Source):
    """A file or a folder on disk, keyed in the lockfile by the path as typed."""

    scheme = ""

    def resolve(self, target: str, options: ResolveOptions) -> Resolved:
        return Resolved(resolve_local(target, max_files=options.max_files), self.lock_key(target))

    def lock_key(self, target: str) -> str:
        return Path(target).as_posix()


def resolve_local(target: str, *, max_files: int = 1_000_000) -> Artifact:
    """Walk a file or folder; links stay inside it, or inside the cache repo folder a snapshot lives in
    (snapshot files are links into ``../../blobs``)."""
    return walk(target, max_files=max_files, boundary=containing_repo(Path(target).resolve()))
