"""Local files and folders, with links confined to the model (or to the cache a snapshot lives in)."""

from __future__ import annotations

import os
from pathlib import Path

from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.errors import SourceError


def _containing_cache(root: Path) -> Path | None:
    """The Hugging Face cache repo folder (``models--org--name``) a snapshot folder lives in, if any.

    Snapshot files are links into ``../../blobs``; links that stay inside that repo folder are followed.
    """
    for parent in (root, *root.parents):
        if parent.name.startswith(("models--", "datasets--", "spaces--")) and (parent / "blobs").is_dir():
            return parent
    return None


def resolve_local(target: str, *, max_files: int = 1_000_000) -> Artifact:
    """Walk a file or folder into an artifact (no hashing here: the api hashes once, in parallel)."""
    root = Path(target)
    if not root.exists() and not root.is_symlink():
        raise SourceError(f"{target}: no such file or folder")
    if root.is_file():
        return Artifact(root=root, files=(FileEntry(root.name, root, root.stat().st_size),), source=target)
    if not root.is_dir():
        raise SourceError(f"{target}: not a regular file or folder")
    real_root = root.resolve()
    boundary = _containing_cache(real_root) or real_root
    files: list[FileEntry] = []
    rejected: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                try:
                    real = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    rejected.append((rel, "link target does not exist or loops"))
                    continue
                if not real.is_relative_to(boundary):
                    rejected.append((rel, f"link points outside the model, to {real}"))
                    continue
                if real.is_dir():
                    rejected.append((rel, "link to a folder is not followed"))
                    continue
            try:
                size = path.stat().st_size
            except OSError as exc:
                rejected.append((rel, f"cannot stat: {exc.strerror}"))
                continue
            if not path.is_file():
                rejected.append((rel, "not a regular file (device, socket or pipe)"))
                continue
            files.append(FileEntry(rel, path, size))
            if len(files) > max_files:
                raise SourceError(f"{target}: more than {max_files} files; raise limits.max_files to scan it")
    files.sort(key=lambda e: e.relpath)
    return Artifact(root=root, files=tuple(files), source=target, rejected=tuple(rejected))
