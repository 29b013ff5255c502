"""Hugging Face models: resolve ``hf://org/name@rev`` through ``huggingface_hub`` and check its cache offline.

A cache repo folder (``models--org--name``) keeps file contents in ``blobs/`` and one folder per commit in
``snapshots/`` whose entries are links into the blobs. A blob's name is its own digest: SHA-256 of the file
for LFS files, the git blob SHA-1 (``sha1(b"blob <size>\\0" + content)``) for the others. So the cache is a
record to check against before a lock or a signature is: a changed blob no longer matches its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from modelseal.core.artifact import Artifact
from modelseal.core.errors import SourceError
from modelseal.core.extras import require
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding
from modelseal.integrity.diff import Difference
from modelseal.integrity.manifest import Range, hash_range, hash_ranges
from modelseal.sources import HF_SCHEME, is_hf
from modelseal.sources.local import resolve_local

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HFRef:
    repo_id: str
    revision: str | None = None
    """Branch, tag or commit; None means the default branch."""

    @property
    def source(self) -> str:
        """The revision-free name a lockfile entry is keyed by."""
        return f"{HF_SCHEME}{self.repo_id}"


def parse_hf(target: str) -> HFRef:
    """``hf://org/name[@revision]`` → :class:`HFRef`, the repo id checked by huggingface_hub's own rules."""
    if not is_hf(target):
        raise SourceError(f"{target}: not an hf:// reference")
    body = target[len(HF_SCHEME) :]
    repo_id, _, revision = body.partition("@")
    require("hf", "huggingface_hub", feature="hf:// targets")
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id  # type: ignore[attr-defined]

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise SourceError(f"{target}: invalid repo id ({exc})") from None
    if "@" in body and not revision:
        raise SourceError(f"{target}: empty revision after '@'")
    return HFRef(repo_id, revision or None)


@dataclass(frozen=True)
class HFResolved:
    """A repo revision resolved into a cache snapshot."""

    ref: HFRef
    commit: str
    """The commit SHA the revision resolved to (the snapshot folder's name)."""
    snapshot: Path
    artifact: Artifact
    repo_uid: str | None = None
    """The hub's immutable repo id (survives renames, differs after delete-and-recreate); online only."""


def resolve_hf(target: str, *, cache_dir: Path | None = None, offline: bool = False) -> HFResolved:
    """Download (or, ``offline``, find) a revision in the huggingface_hub cache and walk its snapshot."""
    ref = parse_hf(target)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        snapshot = Path(
            str(
                snapshot_download(
                    ref.repo_id, revision=ref.revision, cache_dir=cache_dir, local_files_only=offline
                )
            )
        )
    except LocalEntryNotFoundError as exc:
        raise SourceError(f"{target}: not in the Hugging Face cache and cannot download it ({exc})") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise SourceError(f"{target}: cannot resolve on the Hugging Face hub ({exc})") from None
    repo_uid = None if offline else _repo_uid(ref, snapshot.name)
    artifact = replace(resolve_local(str(snapshot)), source=target)
    return HFResolved(ref, snapshot.name, snapshot, artifact, repo_uid)


def _repo_uid(ref: HFRef, commit: str) -> str | None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = HfApi().model_info(ref.repo_id, revision=commit)
    except (HfHubHTTPError, OSError):
        return None
    uid = getattr(info, "_id", None)
    return str(uid) if uid else None


def cache_repo_of(snapshot: Path) -> Path:
    """``models--org--name`` for ``.../models--org--name/snapshots/<commit>``; error when not laid out so."""
    repo = snapshot.parent.parent
    if snapshot.parent.name != "snapshots" or not (repo / "blobs").is_dir() or "--" not in repo.name:
        raise SourceError(
            f"{snapshot}: not a Hugging Face cache snapshot (expected <repo>/snapshots/<commit>)"
        )
    return repo


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


def _git_blob_sha1(path: Path, size: int) -> str:
    return hash_range(path, algorithm="sha1", prefix=b"blob %d\0" % size).split(":", 1)[1]


def verify_snapshot(snapshot: Path, *, workers: int | None = None) -> CacheCheck:
    """Check every file of a snapshot against the blob it links to; links leaving the repo folder fail."""
    repo = cache_repo_of(snapshot)
    blobs = (repo / "blobs").resolve()
    artifact = resolve_local(str(snapshot))
    differences = [Difference("rejected", rel, reason) for rel, reason in artifact.rejected]
    unverifiable: list[str] = []
    lfs: list[tuple[str, Path, str]] = []
    for e in artifact.files:
        if not e.path.is_symlink():
            unverifiable.append(e.relpath)
            continue
        blob = e.path.resolve()
        if blob.parent != blobs:
            differences.append(Difference("rejected", e.relpath, f"link does not point into {blobs}"))
        elif _SHA256.fullmatch(blob.name):
            lfs.append((e.relpath, blob, blob.name))
        elif _SHA1.fullmatch(blob.name):
            found = _git_blob_sha1(blob, e.size)
            if found != blob.name:
                differences.append(
                    Difference("changed", e.relpath, f"blob {blob.name} now hashes to git {found}")
                )
        else:
            unverifiable.append(e.relpath)
    digests = hash_ranges(
        [Range(blob, 0, None, blob.stat().st_size) for _, blob, _ in lfs], "sha256", workers
    )
    for (rel, _, name), digest in zip(lfs, digests, strict=True):
        if digest != f"sha256:{name}":
            differences.append(Difference("changed", rel, f"blob {name} now hashes to {digest}"))
    differences.sort(key=lambda d: d.subject)
    return CacheCheck(
        snapshot, len(artifact.files) - len(unverifiable), tuple(differences), tuple(unverifiable)
    )
