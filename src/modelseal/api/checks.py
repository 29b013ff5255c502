"""The checks every composition shares, run once per resolved target on digests computed once.

After a target is resolved and hashed, :func:`check_target` checks it against the Hugging Face cache's own
record (for a cache snapshot), its signature (when asked) and its lock entry (with the signer the signature
check found), and looks up its publisher's tier. ``scan``, ``gate``, ``verify`` and ``bom`` all go through
here, so they cannot disagree about the same model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelseal.core.artifact import Artifact
from modelseal.core.errors import ModelsealError
from modelseal.core.findings import Finding
from modelseal.integrity import LOCKFILE as LOCKFILE  # the default, in the working folder

if TYPE_CHECKING:
    from modelseal.core.config import Config
    from modelseal.integrity.lockfile import LockCheck, LockEntry, Lockfile
    from modelseal.integrity.manifest import Manifest
    from modelseal.integrity.signing import VerifyResult
    from modelseal.provenance.reputation import PublisherTier
    from modelseal.sources.hfcache import CacheCheck
    from modelseal.sources.interface import Resolved


@dataclass(frozen=True)
class SignatureCheck:
    """Which signature to check a model against, and whom to trust."""

    signature: Path | None = None
    """None: ``model.sig`` inside a model folder, or ``<file>.sig`` beside a model file, if present."""
    public_key: Path | None = None
    trust_anchors: tuple[Path, ...] = ()
    identity: str | None = None
    trust_root: Path | None = None
    issuer: str | None = None
    unchecked_is_unavailable: bool = False
    """True (the gate's reading): a signature with no key or anchor given to check it is ``unavailable``,
    a fact for the policy; False (``verify``): the bundle is read and its own error says what is missing."""


@dataclass(frozen=True)
class SignatureOutcome:
    """What the signature check found. ``state`` is ``verified``, ``unsigned``, ``invalid`` or
    ``unavailable`` (could not be checked: no key given, unreadable bundle)."""

    state: str
    path: Path | None = None
    result: VerifyResult | None = None
    """The file-by-file comparison, when the bundle itself verified."""
    error: ModelsealError | None = None
    """Why the bundle did not verify or could not be checked."""
    detail: str = ""

    @property
    def signer(self) -> str | None:
        return self.result.signer if self.result is not None and self.state == "verified" else None


@dataclass(frozen=True)
class LockSource:
    """The lockfile one run checks against, read once: ``lock`` is None when absent or unreadable."""

    path: Path | None
    lock: Lockfile | None = None
    error: ModelsealError | None = None

    def find(self, key: str) -> tuple[str, LockEntry | None]:
        """The entry of ``key`` and the key it is filed under: a local path by :func:`local_key`, or as
        typed (lockfiles written before keys were normalised)."""
        canonical = local_key(key, self.path or Path(LOCKFILE))
        if self.lock is None:
            return canonical, None
        for k in dict.fromkeys((canonical, key)):
            entry = self.lock.get(k)
            if entry is not None:
                return k, entry
        return canonical, None


def local_key(key: str, lockfile: Path) -> str:
    """A local target's lock key: its path relative to the lockfile's folder, so that ``lock m1`` and
    ``verify /abs/path/m1 --locked`` meet at one entry whatever folder each ran from. Hub and bucket keys
    (``hf://org/name``, ``s3://...``) are kept as they are."""
    if "://" in key:
        return key
    folder = os.path.abspath(lockfile.parent)
    return Path(os.path.relpath(os.path.abspath(key), folder)).as_posix()


@dataclass(frozen=True)
class LockOutcome:
    """``state`` is ``verified``, ``mismatch``, ``missing`` (no lockfile, or no entry) or ``unavailable``."""

    state: str
    key: str = ""
    detail: str = ""
    check: LockCheck | None = None

    @property
    def report_state(self) -> str:
        """What a scan report says: ``match``, ``mismatch`` or ``""`` (not pinned)."""
        return {"verified": "match", "mismatch": "mismatch"}.get(self.state, "")


NOT_LOCKED = LockOutcome("missing", detail="no lockfile")


@dataclass(frozen=True)
class TargetChecks:
    """Every check of one hashed target."""

    cache: CacheCheck | None = None
    signature: SignatureOutcome | None = None
    lock: LockOutcome = NOT_LOCKED
    tier: PublisherTier | None = None
    findings: tuple[Finding, ...] = field(default=())
    """The cache and lock differences as findings, for reports and the policy (the signature is a fact of
    its own: the policy's signature check decides on it)."""


def read_lockfile(path: Path | bool | None, *, strict: bool = True) -> LockSource:
    """``path`` (None/True: ``modelseal.lock`` in the working folder when present; False: none). A malformed
    lockfile raises when ``strict``, else it is carried as the reason the lock check was unavailable."""
    if path is False:
        return LockSource(None)
    if path is None or path is True:
        path = Path(LOCKFILE)
    if not path.is_file():
        return LockSource(path)
    from modelseal.integrity.lockfile import read_lock

    try:
        return LockSource(path, read_lock(path))
    except ModelsealError as exc:
        if strict:
            raise
        return LockSource(path, error=exc)


def check_target(
    res: Resolved,
    hashed: Artifact,
    manifest: Manifest,
    *,
    lockfile: LockSource,
    lock_key: str | None = None,
    signature: SignatureCheck | None = None,
    config: Config | None = None,
) -> TargetChecks:
    """Cache record, signature, lock and tier of one target whose files all carry their digests."""
    cache = _cache(res, hashed)
    sig = _signature(signature, hashed, manifest) if signature is not None else None
    lock = lock_outcome(
        res, hashed, manifest, lockfile, lock_key or res.lock_key, sig.signer if sig else None
    )
    findings: list[Finding] = [*(cache.findings() if cache else ())]
    if lock.check is not None:
        findings.extend(lock.check.findings())
    return TargetChecks(cache, sig, lock, tier_of(res.model_id, config), tuple(findings))


def tier_of(model_id: str | None, config: Config | None) -> PublisherTier | None:
    """The publisher tier of a hub id, from the shipped table and the user's ``provenance`` settings
    (``publishers``, ``own_publishers``, ``replace_publishers``); of ``local_owner`` for a model without a hub
    id: the one place a tier is computed."""
    from modelseal.core.config import Config
    from modelseal.provenance.config import ProvenanceConfig

    if not model_id and not (config and config.raw.get("provenance")):
        return None  # no configuration to read: stay cheap
    return ProvenanceConfig.from_config(config or Config()).tier_of(model_id)


def _cache(res: Resolved, hashed: Artifact) -> CacheCheck | None:
    if res.snapshot is None:
        return None
    from modelseal.sources.hfcache import verify_snapshot

    return verify_snapshot(res.snapshot, digests={e.relpath: e.digest for e in hashed.files})


def default_signature(root: Path) -> Path:
    """``model.sig`` inside a model folder, ``<file>.sig`` beside a model file."""
    return root / "model.sig" if root.is_dir() else root.with_name(root.name + ".sig")


def _signature(req: SignatureCheck, hashed: Artifact, manifest: Manifest) -> SignatureOutcome:
    from modelseal.integrity.oms import SignatureError
    from modelseal.integrity.signing import verify_model

    path = req.signature
    if path is None:
        path = default_signature(hashed.root)
        if not path.is_file():
            return SignatureOutcome("unsigned", detail="no --signature given and no model.sig found")
    if req.unchecked_is_unavailable and req.public_key is None and not req.trust_anchors:
        return SignatureOutcome(
            "unavailable", path, detail=f"{path} found but no --public-key or --trust-anchor to check it"
        )
    try:
        result = verify_model(
            hashed,
            path,
            public_key=req.public_key,
            trust_anchors=req.trust_anchors,
            identity=req.identity,
            trust_root=req.trust_root,
            issuer=req.issuer,
            manifest=manifest,
        )
    except SignatureError as exc:
        return SignatureOutcome("invalid", path, error=exc, detail=str(exc))
    except ModelsealError as exc:
        return SignatureOutcome("unavailable", path, error=exc, detail=str(exc))
    if not result.ok:
        diffs = "; ".join(str(d) for d in result.differences[:3])
        return SignatureOutcome("invalid", path, result, detail=f"files differ from what was signed: {diffs}")
    return SignatureOutcome("verified", path, result)


def lock_outcome(
    res: Resolved, hashed: Artifact, manifest: Manifest, source: LockSource, key: str, signer: str | None
) -> LockOutcome:
    """The lock entry ``key`` of ``source`` against the hashed files, revision, repo id and signer."""
    if source.error is not None:
        return LockOutcome("unavailable", key, str(source.error))
    if source.lock is None:
        return LockOutcome("missing", key, f"no lockfile at {source.path}" if source.path else "no lockfile")
    key, entry = source.find(key)
    if entry is None:
        return LockOutcome("missing", key, f"no entry for {key} in {source.path}")
    from modelseal.integrity.lockfile import check_lock

    check = check_lock(
        hashed, entry, revision=res.revision, repo_uid=res.repo_uid, signer=signer, manifest=manifest
    )
    if not check.ok:
        return LockOutcome("mismatch", key, "; ".join(str(d) for d in check.differences[:3]), check)
    return LockOutcome("verified", key, f"matches {source.path}", check)
