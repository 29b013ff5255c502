"""Hugging Face cache snapshots as a source, and the cache as a record to check the files against.

The layout (where repos, blobs and snapshots are) is :mod:`modelseal.sources.hflayout`. A blob's name is its
own digest: SHA-256 of the file for LFS files, the git blob SHA-1 (``sha1(b"blob <size>\\0" + content)``)
for the others. So a changed blob no longer matches its name. Nothing here imports huggingface_hub except
:func:`cached_revisions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelseal.core.differences import Difference
from modelseal.core.errors import SourceError
from modelseal.core.findings import Finding
from modelseal.core.hashing import hash_range
from modelseal.core.rules import make_finding
from modelseal.sources.hflayout import (
    blobs_of,
    cache_repo_of,
    is_cache_root,
    model_snapshots,
    snapshot_parts,
)
from modelseal.sources.interface import Resolved, ResolveOptions, Source
from modelseal.sources.local import walk

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class SnapshotIdentity:
    """What a snapshot folder's place in the cache says about it."""

    model_id: str
    """``org/name`` (or ``name`` for the hub's un-namespaced models)."""
    commit: str
    repo: Path
    """The ``models--org--name`` folder."""


def snapshot_identity(path: Path) -> SnapshotIdentity | None:
    """Who a snapshot folder (or a file in it) belongs to; None for a path laid out otherwise."""
    found = snapshot_parts(path)
    return SnapshotIdentity(*found) if found else None


class CacheSnapshotSource(Source):
    """A snapshot folder of the cache given as a path: the files of one commit of a hub model, whose
    identity (hub id, commit) comes from where it sits. Its lockfile key stays the path as typed."""

    scheme = ""

    def resolve(self, target: str, options: ResolveOptions) -> Resolved:
        found = snapshot_identity(Path(target))
        artifact = walk(target, max_files=options.max_files, boundary=found.repo.resolve() if found else None)
        if found is None:
            return Resolved(artifact, self.lock_key(target))
        snapshot = artifact.root if artifact.root.is_dir() else None
        return Resolved(artifact, self.lock_key(target), found.model_id, found.commit, snapshot=snapshot)

    def lock_key(self, target: str) -> str:
        return Path(target).as_posix()


@dataclass(frozen=True)
class CacheCheck:
    """Outcome of checking a snapshot against the cache's own record (blob names)."""

    snapshot: Path
    checked: int
    differences: tuple[Difference, ...]
    unverifiable: tuple[str, ...]
    """Files the cache cannot vouch for: plain files (no link) or blobs whose name is not a digest."""

    @property
    def ok(self) -> bool:
        return not self.differences

    def findings(self) -> tuple[Finding, ...]:
        """Altered blobs, and links that leave the cache repo folder, as findings for scans and the gate."""
        return tuple(
            make_finding(
                "MS-HF-CACHE-MISMATCH" if d.kind == "changed" else "MS-FILE-LINK-ESCAPE",
                str(d),
                file=d.subject,
            )
            for d in self.differences
        )


def verify_snapshot(
    snapshot: Path, *, digests: Mapping[str, str | None] | None = None, workers: int | None = None
) -> CacheCheck:
    """Check every file of a snapshot against the blob it links to; links leaving the repo folder fail.

    ``digests`` (relpath → ``sha256:<hex>``, as the scan or the manifest computed them) are reused for
    LFS blobs, whose name is that very digest: a file is read again only when no digest is given for it.
    """
    repo = cache_repo_of(snapshot)
    blobs = blobs_of(repo).resolve()
    artifact = walk(str(snapshot), boundary=repo.resolve())
    known = digests or {}
    differences = [Difference("rejected", rel, reason) for rel, reason in artifact.rejected]
    unverifiable: list[str] = []
    to_hash: list[tuple[str, Path, str, str, bytes]] = []  # relpath, blob, expected hex, algorithm, prefix
    for e in artifact.files:
        if not e.path.is_symlink():
            unverifiable.append(e.relpath)
            continue
        blob = e.path.resolve()
        if blob.parent != blobs:
            differences.append(Difference("rejected", e.relpath, f"link does not point into {blobs}"))
        elif _SHA256.fullmatch(blob.name):
            given = known.get(e.relpath)
            if given is None:
                to_hash.append((e.relpath, blob, blob.name, "sha256", b""))
            elif given != f"sha256:{blob.name}":
                differences.append(
                    Difference("changed", e.relpath, f"blob {blob.name} now hashes to {given}")
                )
        elif _SHA1.fullmatch(blob.name):
            to_hash.append((e.relpath, blob, blob.name, "sha1", b"blob %d\0" % e.size))
        else:
            unverifiable.append(e.relpath)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers or 4) as pool:
        found = list(pool.map(lambda t: hash_range(t[1], algorithm=t[3], prefix=t[4]).split(":")[1], to_hash))
    for (rel, _, name, algorithm, _), hexdigest in zip(to_hash, found, strict=True):
        if hexdigest != name:
            shown = f"git {hexdigest}" if algorithm == "sha1" else f"sha256:{hexdigest}"
            differences.append(Difference("changed", rel, f"blob {name} now hashes to {shown}"))
    differences.sort(key=lambda d: d.subject)
    return CacheCheck(
        snapshot, len(artifact.files) - len(unverifiable), tuple(differences), tuple(unverifiable)
    )


@dataclass(frozen=True)
class CachedRevision:
    """One model revision present in a cache."""

    repo_id: str
    commit: str
    snapshot: Path
    files: tuple[str, ...]
    """The snapshot's file names (relative), sorted."""


def cached_revisions(cache: Path) -> list[CachedRevision]:
    """Every cached model revision, read with huggingface_hub's own cache scanner, in a stable order."""
    try:
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound
    except ImportError:
        raise SourceError(
            f"{cache}: reading a Hugging Face cache needs huggingface_hub",
            hint="pip install 'modelseal[hf]'",
        ) from None
    try:
        info = scan_cache_dir(cache)
    except CacheNotFound as exc:
        raise SourceError(f"{cache}: not a Hugging Face cache ({exc})") from None
    return [
        CachedRevision(
            repo.repo_id,
            rev.commit_hash,
            Path(rev.snapshot_path),
            tuple(sorted(f.file_name for f in rev.files)),
        )
        for repo in sorted(info.repos, key=lambda r: r.repo_id)
        if repo.repo_type == "model"
        for rev in sorted(repo.revisions, key=lambda r: r.commit_hash)
    ]


def default_cache() -> Path | None:
    """The user's Hugging Face hub cache folder, when huggingface_hub is installed and the folder exists."""
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:
        raise SourceError("--hf-cache needs pip install 'modelseal[hf]'") from None
    path = Path(HF_HUB_CACHE)
    return path if path.is_dir() else None


def mirror_snapshots(mirror: Path) -> list[tuple[Path, SnapshotIdentity]]:
    """Every model snapshot (folder, identity) of a folder laid out like the cache (a hub mirror), in a
    stable order; read from the layout alone (no huggingface_hub), so that millions are listed cheaply."""
    if not is_cache_root(mirror):
        raise SourceError(
            f"{mirror}: not laid out like a Hugging Face cache",
            hint="expected models--org--name folders, each with blobs/ and snapshots/<commit>/",
        )
    found = []
    for snapshot in model_snapshots(mirror):
        identity = snapshot_identity(snapshot)
        if identity is not None:
            found.append((snapshot, identity))
    return found


def content_name(path: Path) -> str | None:
    """The digest the cache names a snapshot file's content by (``sha256:<hex>`` for LFS blobs,
    ``git:<sha1>`` for the others); None for a plain file or a blob not named by a digest."""
    if not path.is_symlink():
        return None
    name = path.resolve().name
    if _SHA256.fullmatch(name):
        return f"sha256:{name}"
    return f"git:{name}" if _SHA1.fullmatch(name) else None
