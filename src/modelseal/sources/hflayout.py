"""The Hugging Face cache layout, as huggingface_hub writes it: the names only, no I/O beyond stat.

A cache holds one folder per repo (``models--org--name``) with file contents in ``blobs/``, one folder per
commit in ``snapshots/`` whose entries are links into the blobs, and ``refs/`` naming commits. Kept apart
from :mod:`modelseal.sources.hfcache` (the source and the record check) so that resolving a plain path,
which asks whether it lies in a cache, stays cheap.
"""

from __future__ import annotations

from pathlib import Path

from modelseal.core.errors import SourceError

REPO_PREFIXES = ("models--", "datasets--", "spaces--")


def containing_repo(root: Path) -> Path | None:
    """The cache repo folder (``models--org--name``) that ``root`` lives in, if any: links staying inside
    it are part of the model."""
    for parent in (root, *root.parents):
        if parent.name.startswith(REPO_PREFIXES) and (parent / "blobs").is_dir():
            return parent
    return None


def snapshot_parts(path: Path) -> tuple[str, str, Path] | None:
    """(hub id, commit, ``models--org--name`` folder) of a ``.../models--org--name/snapshots/<commit>``
    folder or a file in it; None for a path laid out otherwise. A tuple, not a record: every local target
    is asked, and ``modelseal scan``'s start-up is a budget (``hfcache.snapshot_identity`` gives the
    record)."""
    real = path.resolve() if path.exists() else path
    parts = real.parts
    for i in range(len(parts) - 2):
        repo, snapshots, commit = parts[i : i + 3]
        if repo.startswith("models--") and snapshots == "snapshots":
            org_name = [p for p in repo[len("models--") :].split("--", 1) if p]
            if org_name:
                return "/".join(org_name), commit, Path(*parts[: i + 1])
    return None


def blobs_of(repo: Path) -> Path:
    """Where a cache repo folder keeps file contents, each named by its digest."""
    return repo / "blobs"


def cache_repo_of(snapshot: Path) -> Path:
    """``models--org--name`` for ``.../models--org--name/snapshots/<commit>``; error when not laid out so."""
    repo = snapshot.parent.parent
    if snapshot.parent.name != "snapshots" or not blobs_of(repo).is_dir() or "--" not in repo.name:
        raise SourceError(
            f"{snapshot}: not a Hugging Face cache snapshot (expected <repo>/snapshots/<commit>)",
            hint="give the snapshot folder itself, or an hf://org/name@revision target",
        )
    return repo


def is_cache_root(path: Path) -> bool:
    """A hub cache root holds ``models--org--name`` folders each with ``snapshots``."""
    try:
        return any(p.name.startswith(REPO_PREFIXES) and (p / "snapshots").is_dir() for p in path.iterdir())
    except OSError:
        return False


def model_snapshots(root: Path) -> list[Path]:
    """Every snapshot folder of every model repo under a cache root (or a mirror laid out like one), in a
    stable order."""
    return [
        snapshot
        for repo in sorted(root.iterdir())
        if repo.name.startswith("models--") and (repo / "snapshots").is_dir()
        for snapshot in sorted((repo / "snapshots").iterdir())
        if snapshot.is_dir()
    ]


def is_repo_folder(name: str) -> bool:
    """Whether a folder name is one of the cache's repo folders (not to be walked as a plain model)."""
    return name.startswith(REPO_PREFIXES)
