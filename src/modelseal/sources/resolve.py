"""One entry point from what the user typed to an artifact, with what resolution learned about it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelseal.core.artifact import Artifact
from modelseal.sources import is_hf
from modelseal.sources.local import resolve_local


@dataclass(frozen=True)
class Resolved:
    """A target resolved into files, with what resolution learned about where they came from."""

    artifact: Artifact
    lock_key: str
    """The key of this model in ``modelseal.lock``: ``hf://org/name`` (no revision) or the path as typed."""
    model_id: str | None = None
    """``org/name`` for hub targets: what name checks and reputation look at."""
    revision: str | None = None
    """The commit a hub revision resolved to."""
    repo_uid: str | None = None
    snapshot: Path | None = None
    """The Hugging Face cache snapshot folder of a hub target."""


def source_key(target: str) -> str:
    """The lockfile key of a target: ``hf://org/name`` without its revision, or the path as typed."""
    if is_hf(target):
        from modelseal.sources.hf import parse_hf

        return parse_hf(target).source
    return Path(target).as_posix()


def resolve(
    target: str, *, max_files: int = 1_000_000, offline: bool = False, cache_dir: Path | None = None
) -> Resolved:
    if is_hf(target):
        from modelseal.sources.hf import resolve_hf  # the hub code only for hub targets

        hub = resolve_hf(target, offline=offline, cache_dir=cache_dir)
        return Resolved(hub.artifact, hub.ref.source, hub.ref.repo_id, hub.commit, hub.repo_uid, hub.snapshot)
    return Resolved(resolve_local(target, max_files=max_files), source_key(target))
