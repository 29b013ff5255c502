"""The Hugging Face hub: ``hf://org/name@rev`` resolved through ``huggingface_hub`` into its cache.

The files are those of the cache snapshot the revision resolves to (see :mod:`modelseal.sources.hfcache`
for the layout, and for the check of the files against the cache's own record).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from modelseal.core.artifact import Artifact
from modelseal.core.errors import SourceError
from modelseal.sources import HF_SCHEME, is_hf
from modelseal.sources.hfcache import verify_snapshot as verify_snapshot  # where hub users look for it
from modelseal.sources.interface import Resolved, ResolveOptions, Source
from modelseal.sources.local import resolve_local


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
    try:
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id  # type: ignore[attr-defined]
    except ImportError:
        raise SourceError("hf:// targets need huggingface_hub", hint="pip install 'modelseal[hf]'") from None
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


class HubSource(Source):
    """``hf://org/name[@revision]``, keyed in the lockfile without its revision."""

    scheme = HF_SCHEME

    def resolve(self, target: str, options: ResolveOptions) -> Resolved:
        hub = resolve_hf(
            target, cache_dir=options.cache_dir, offline=options.offline, max_files=options.max_files
        )
        return Resolved(hub.artifact, hub.ref.source, hub.ref.repo_id, hub.commit, hub.repo_uid, hub.snapshot)

    def lock_key(self, target: str) -> str:
        return parse_hf(target).source


def resolve_hf(
    target: str, *, cache_dir: Path | None = None, offline: bool = False, max_files: int = 1_000_000
) -> HFResolved:
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
    artifact = replace(resolve_local(str(snapshot), max_files=max_files), source=target)
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
