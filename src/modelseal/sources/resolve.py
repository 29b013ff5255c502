"""One entry point from what the user typed to an artifact, with what resolution learned about it."""

from __future__ import annotations

from dataclasses import dataclass

from modelseal.core.artifact import Artifact
from modelseal.sources.local import resolve_local

HF_SCHEME = "hf://"


@dataclass(frozen=True)
class Resolved:
    artifact: Artifact
    model_id: str | None = None
    """``org/name`` for hub targets: what name checks and reputation look at."""
    revision: str | None = None
    """The commit a hub revision resolved to."""
    repo_uid: str | None = None


def resolve(target: str, *, max_files: int = 1_000_000, offline: bool = False) -> Resolved:
    if target.startswith(HF_SCHEME):
        from modelseal.sources.hf import resolve_hf

        hub = resolve_hf(target, offline=offline)
        return Resolved(hub.artifact, hub.ref.repo_id, hub.commit, hub.repo_uid)
    return Resolved(resolve_local(target, max_files=max_files))
