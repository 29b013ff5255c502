"""Local files and folders, with links confined to the model (or to the cache repo a snapshot lives in).

:func:`walk` knows nothing of any source: the local source confines links to the model (or to the cache
repo a snapshot lives in), the cache source to the snapshot's repo folder, the bucket source to its copy.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.errors import SourceError
from modelseal.sources.hflayout import containing_repo
from modelseal.sources.interface import Resolved, ResolveOptions, Source


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


def walk(target: str, *, max_files: int = 1_000_000, boundary: Path | None = None) -> Artifact:
    """Walk a file or folder into an artifact (no hashing here: the api hashes once, in parallel). Links
    are followed to files inside ``boundary`` (default: the folder itself)."""
    root = Path(target)
    if not root.exists() and not root.is_symlink():
        raise SourceError(f"{target}: no such file or folder")
    if root.is_file():
        return Artifact(root=root, files=(FileEntry(root.name, root, root.stat().st_size),), source=target)
    if not root.is_dir():
        raise SourceError(f"{target}: not a regular file or folder")
    real_root = root.resolve()
    boundary = boundary or real_root
    files: list[FileEntry] = []
    rejected: list[tuple[str, str]] = []
    folders = [(os.fspath(root), "")]
    while folders:  # os.scandir: the file type comes with the listing, one stat per file gives its size
        folder, prefix = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            rejected.append((prefix.rstrip("/") or ".", f"cannot list folder: {exc.strerror}"))
            continue
        for entry in entries:
            rel = prefix + entry.name
            if not entry.is_symlink() and entry.is_dir(follow_symlinks=False):
                folders.append((entry.path, rel + "/"))
                continue
            reason = _link_problem(Path(entry.path), boundary) if entry.is_symlink() else None
            if reason is None:
                try:
                    st = entry.stat()
                except OSError as exc:
                    reason = f"cannot stat: {exc.strerror}"
                else:
                    if stat.S_ISREG(st.st_mode):
                        files.append(FileEntry(rel, Path(entry.path), st.st_size))
                        if len(files) > max_files:
                            raise SourceError(
                                f"{target}: more than {max_files} files",
                                hint="raise limits.max_files ([tool.modelseal.limits]) to scan it",
                            )
                        continue
                    reason = "not a regular file (device, socket or pipe)"
            rejected.append((rel, reason))
    files.sort(key=lambda e: e.relpath)
    rejected.sort()
    return Artifact(root=root, files=tuple(files), source=target, rejected=tuple(rejected))


def _link_problem(path: Path, boundary: Path) -> str | None:
    """Why a link inside the model is not followed, or None for a link to a file inside the boundary."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "link target does not exist or loops"
    if not real.is_relative_to(boundary):
        return f"link points outside the model, to {real}"
    if real.is_dir():
        return "link to a folder is not followed"
    return None
