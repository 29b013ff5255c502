"""``sign``, ``verify`` and ``lock``: content identity of one model, on digests computed once.

``verify`` runs the same checks as ``scan`` and ``gate`` (:mod:`modelseal.api.checks`): the Hugging Face
cache record of a snapshot, the signature, then the lock entry with the signer the signature named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelseal.api.checks import (
    LOCKFILE,
    LockOutcome,
    SignatureCheck,
    SignatureOutcome,
    check_target,
    local_key,
    read_lockfile,
)
from modelseal.core.differences import Difference
from modelseal.core.digestcache import DigestCache, default_cache
from modelseal.core.errors import ConfigError, IntegrityError, ModelsealError
from modelseal.integrity.lockfile import lock_entry, read_lock, write_lock
from modelseal.integrity.manifest import DEFAULT_IGNORE, Manifest, manifest_for
from modelseal.integrity.oms import Serialization
from modelseal.integrity.oms import SignatureError as SignatureError  # what a failed signature raises
from modelseal.integrity.signing import self_path
from modelseal.integrity.signing import sign as sign_artifact
from modelseal.sources.hfcache import CacheCheck
from modelseal.sources.resolve import Resolved, resolve

GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
"""What ``--ignore-git`` leaves out, as the OpenSSF tool does."""


def _cache(wanted: bool) -> DigestCache | None:
    """The user's digest cache when ``wanted`` and not turned off by ``MODELSEAL_NO_DIGEST_CACHE``."""
    return default_cache() if wanted else None


@dataclass(frozen=True)
class Where:
    """How to find a model: the target, and for hub targets whether to use the cache only."""

    model: str
    offline: bool = False
    cache_dir: Path | None = None

    def resolve(self) -> Resolved:
        return resolve(self.model, offline=self.offline, cache_dir=self.cache_dir)


@dataclass(frozen=True)
class SignRequest:
    where: Where
    private_key: Path
    signature: Path
    """Where to write the Sigstore bundle."""
    certificate: Path | None = None
    chain: tuple[Path, ...] = ()
    method: str = "files"
    """``files`` or ``shards``."""
    hash_type: str = "sha256"
    shard_size: int = 1_000_000_000
    ignore: tuple[str, ...] = ()
    ignore_git: bool = False
    password: bytes | None = None
    digest_cache: bool = True
    """Take the digests of unchanged files from the user's digest cache (and store new ones)."""


@dataclass(frozen=True)
class SignResult:
    signature: Path
    bundle_json: str


def sign(req: SignRequest) -> SignResult:
    """Sign every file of a model (OpenSSF model signing v1.0) and write the bundle."""
    t = req.where.resolve()
    git = GIT_PATHS if req.ignore_git else ()
    own = self_path(req.signature, t.artifact)
    patterns = tuple(dict.fromkeys([*DEFAULT_IGNORE, *git, *req.ignore, *own]))
    ser = Serialization(
        method=req.method, hash_type=req.hash_type, ignore_paths=patterns, shard_size=req.shard_size
    )
    bundle = sign_artifact(
        t.artifact,
        req.private_key,
        serialization=ser,
        certificate=req.certificate,
        chain=list(req.chain),
        password=req.password,
        cache=_cache(req.digest_cache),
    )
    text = bundle.to_json()
    try:
        req.signature.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise IntegrityError(f"{req.signature}: cannot write the signature ({exc.strerror})") from None
    return SignResult(req.signature, text)


@dataclass(frozen=True)
class VerifyRequest:
    where: Where
    signature: SignatureCheck | None = None
    """Check against this signature (its ``signature`` path must be set)."""
    locked: bool = False
    """Also compare with the lock entry."""
    lockfile: Path = Path(LOCKFILE)
    entry: str | None = None
    """The lock entry to compare with (a mirror check); None: the model's own."""
    trust_digest_cache: bool = False
    """Take digests of files unchanged since they were cached instead of reading them: off by default, since
    verifying is reading what is there now."""


@dataclass(frozen=True)
class VerifyResult:
    """Each check that ran; ``ok`` when none found a difference."""

    model: str
    resolved: Resolved
    manifest: Manifest
    cache: CacheCheck | None
    signature: SignatureOutcome | None
    lock: LockOutcome | None
    lockfile: Path

    @property
    def ok(self) -> bool:
        return (
            (self.cache is None or self.cache.ok)
            and (self.signature is None or self.signature.state == "verified")
            and (self.lock is None or self.lock.state == "verified")
        )

    @property
    def lock_differences(self) -> tuple[Difference, ...]:
        """What differs from the lock entry; a missing entry is one ``entry`` difference."""
        if self.lock is None:
            return ()
        if self.lock.check is not None:
            return self.lock.check.differences
        if self.lock.state == "verified":
            return ()
        return (Difference("entry", self.lock.key, f"no entry in {self.lockfile}"),)


def verify(req: VerifyRequest) -> VerifyResult:
    """Hash the model once; check the cache record, the signature and the lock entry on those digests.

    A bundle that does not verify at all raises its :class:`~modelseal.integrity.oms.SignatureError`; a
    malformed lockfile raises :class:`~modelseal.core.errors.ConfigError`."""
    if req.locked and not req.lockfile.is_file():
        raise ConfigError(
            f"lockfile not found: {req.lockfile}",
            hint=f"create it with `modelseal lock MODEL --lockfile {req.lockfile}` or name another one",
        )
    t = req.where.resolve()
    manifest = manifest_for(t.artifact, cache=_cache(req.trust_digest_cache))
    hashed = t.artifact.with_digests(manifest.digests())
    source = read_lockfile(req.lockfile if req.locked else False)
    checks = check_target(t, hashed, manifest, lockfile=source, lock_key=req.entry, signature=req.signature)
    sig = checks.signature
    if sig is not None and sig.error is not None:
        raise sig.error
    return VerifyResult(
        req.where.model, t, manifest, checks.cache, sig, checks.lock if req.locked else None, req.lockfile
    )


@dataclass(frozen=True)
class LockRequest:
    models: tuple[Where, ...]
    lockfile: Path = Path(LOCKFILE)
    hash_type: str = "sha256"
    ignore: tuple[str, ...] = ()
    signer: str | None = None
    digest_cache: bool = True
    """As :attr:`SignRequest.digest_cache`."""


@dataclass(frozen=True)
class Locked:
    """One model pinned, or refused because resolving it refused some of its files."""

    model: str
    key: str
    manifest: Manifest
    refused: tuple[Difference, ...] = ()


@dataclass(frozen=True)
class LockResult:
    locked: tuple[Locked, ...]
    written: bool
    """False when a model was refused: the lockfile is left as it was."""


def lock(req: LockRequest) -> LockResult:
    """Resolve and pin every model first; write the lockfile only when every model could be pinned, so a
    failure leaves it as it was (the error says so). Local paths are keyed relative to the lockfile's
    folder (:func:`~modelseal.api.checks.local_key`)."""
    current = read_lock(req.lockfile)
    done: list[Locked] = []
    for where in req.models:
        try:
            t = where.resolve()
        except ModelsealError as exc:
            pinned = f"{len(done)} of {len(req.models)} targets were resolved"
            message = f"{exc}; nothing written to {req.lockfile} ({pinned})"
            raise IntegrityError(message, hint=exc.diagnostics()) from None
        key = local_key(t.lock_key, req.lockfile)
        ignore = (*DEFAULT_IGNORE, *req.ignore)
        manifest = manifest_for(t.artifact, req.hash_type, ignore=ignore, cache=_cache(req.digest_cache))
        if manifest.rejected:
            refused = tuple(Difference("rejected", r, why) for r, why in manifest.rejected)
            done.append(Locked(where.model, key, manifest, refused))
            return LockResult(tuple(done), False)
        entry = lock_entry(key, manifest, revision=t.revision, repo_uid=t.repo_uid, signer=req.signer)
        current = current.with_entry(entry)
        done.append(Locked(where.model, key, manifest))
    write_lock(req.lockfile, current)
    return LockResult(tuple(done), True)
