"""One entry point from what the user typed to an artifact."""

from __future__ import annotations

from modelseal.core.artifact import Artifact
from modelseal.sources.local import resolve_local

HF_SCHEME = "hf://"


def resolve(target: str, *, max_files: int = 1_000_000) -> Artifact:
    if target.startswith(HF_SCHEME):
        from modelseal.sources.hf import resolve_hf

        return resolve_hf(target)
    return resolve_local(target, max_files=max_files)
