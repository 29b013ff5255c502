"""``modelseal.lock``: every file of every model pinned by content, in TOML that diffs well in review.

An entry is keyed by its source: ``hf://org/name`` (with the commit it resolved to and the hub's immutable
repo id) or a local path as typed. It carries per-file digests, the manifest digest, the ignore patterns it
was hashed with, and optionally the signer expected to vouch for it. "Same name, same revision, other
weights" then shows up as a changed file, whatever the hub or mirror says.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelseal.core import toml
from modelseal.core.artifact import Artifact
from modelseal.core.differences import Difference, diff_digests
from modelseal.core.errors import ConfigError, ModelsealError
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding
from modelseal.integrity import LOCKFILE as LOCKFILE  # re-exported: where callers look for it
from modelseal.integrity.manifest import (
    DEFAULT_IGNORE,
    Manifest,
    manifest_digest,
    manifest_for,
    with_digests_of,
)

VERSION = 1
_HEADER = "# Pins models by content. Written by `modelseal lock`; review changes to it like code.\n"


@dataclass(frozen=True)
class LockEntry:
    source: str
    """``hf://org/name`` or a local path: what ``verify --locked`` looks the model up by."""
    algorithm: str
    files: tuple[tuple[str, str], ...]
    """(relpath, ``"<algorithm>:<hex>"``), sorted."""
    manifest_digest: str
    revision: str | None = None
    """The commit SHA an ``hf://`` source resolved to."""
    repo_uid: str | None = None
    """The hub's immutable repo id, where it gave one."""
    signer: str | None = None
    """Expected signer (``key:<hint>`` or a certificate identity); verification then requires a signature."""
    ignore: tuple[str, ...] = DEFAULT_IGNORE


@dataclass(frozen=True)
class Lockfile:
    entries: tuple[LockEntry, ...] = ()

    def get(self, source: str) -> LockEntry | None:
        return next((e for e in self.entries if e.source == source), None)

    def with_entry(self, entry: LockEntry) -> Lockfile:
        """Add or replace the entry of the same source; entries stay sorted."""
        rest = [e for e in self.entries if e.source != entry.source]
        return Lockfile(tuple(sorted([*rest, entry], key=lambda e: e.source)))


def lock_entry(
    source: str,
    manifest: Manifest,
    *,
    revision: str | None = None,
    repo_uid: str | None = None,
    signer: str | None = None,
) -> LockEntry:
    return LockEntry(
        source=source,
        algorithm=manifest.algorithm,
        files=tuple((f.relpath, f.digest) for f in manifest.files),
        manifest_digest=manifest.digest,
        revision=revision,
        repo_uid=repo_uid,
        signer=signer,
        ignore=manifest.ignore_patterns,
    )


def _str_or_none(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{what} must be a string")
    return value


def _entry_from(data: Any, origin: str) -> LockEntry:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: each [[model]] must be a table")
    source = data.get("source")
    where = f"{origin}: model {source!r}"
    files = data.get("files")
    if not isinstance(source, str) or not source:
        raise ConfigError(f"{origin}: a [[model]] lacks its 'source'")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ConfigError(f"{where}: 'files' must map paths to digests")
    algorithm, digest = data.get("algorithm"), data.get("manifest_digest")
    if not isinstance(algorithm, str) or not isinstance(digest, str):
        raise ConfigError(f"{where}: 'algorithm' and 'manifest_digest' are required strings")
    ignore = data.get("ignore", list(DEFAULT_IGNORE))
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise ConfigError(f"{where}: 'ignore' must be a list of paths")
    return LockEntry(
        source=source,
        algorithm=algorithm,
        files=tuple(sorted(files.items())),
        manifest_digest=digest,
        revision=_str_or_none(data.get("revision"), f"{where}: 'revision'"),
        repo_uid=_str_or_none(data.get("repo_uid"), f"{where}: 'repo_uid'"),
        signer=_str_or_none(data.get("signer"), f"{where}: 'signer'"),
        ignore=tuple(ignore),
    )


def read_lock(path: Path) -> Lockfile:
    """Parse a lockfile; a missing file is an empty lock, a malformed one a :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lockfile()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the lockfile ({exc})") from None
    try:
        data: dict[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    if data.get("version") != VERSION:
        raise ConfigError(f"{path}: lockfile version {data.get('version')!r}; this modelseal reads {VERSION}")
    models = data.get("model", [])
    if not isinstance(models, list):
        raise ConfigError(f"{path}: 'model' must be an array of tables ([[model]])")
    entries = [_entry_from(m, str(path)) for m in models]
    sources = [e.source for e in entries]
    if len(set(sources)) != len(sources):
        raise ConfigError(f"{path}: a model source is listed twice")
    return Lockfile(tuple(entries))


def write_lock(path: Path, lock: Lockfile) -> None:
    try:
        import tomli_w
    except ImportError:
        raise ModelsealError("writing a lockfile needs tomli-w: pip install tomli-w") from None
    models: list[dict[str, Any]] = []
    for e in lock.entries:
        table: dict[str, Any] = {"source": e.source}
        table.update({k: v for k, v in (("revision", e.revision), ("repo_uid", e.repo_uid)) if v})
        table.update(algorithm=e.algorithm, manifest_digest=e.manifest_digest, ignore=list(e.ignore))
        if e.signer:
            table["signer"] = e.signer
        table["files"] = dict(e.files)
        models.append(table)
    text = _HEADER + tomli_w.dumps({"version": VERSION, "model": models})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class LockCheck:
    """Whether a resolved model matches its lock entry, and every way it does not."""

    source: str
    manifest_digest: str
    """The model's manifest digest as found now."""
    differences: tuple[Difference, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.differences

    def findings(self) -> tuple[Finding, ...]:
        """One finding per difference, for scan reports and the gate."""
        return tuple(
            make_finding(
                "MS-LOCK-MISMATCH", f"{self.source}: {d}", file="" if d.kind in _MODEL_LEVEL else d.subject
            )
            for d in self.differences
        )


_MODEL_LEVEL = frozenset({"revision", "repo", "signer", "entry"})


def check_lock(
    artifact: Artifact,
    entry: LockEntry,
    *,
    revision: str | None = None,
    repo_uid: str | None = None,
    signer: str | None = None,
    manifest: Manifest | None = None,
) -> LockCheck:
    """Compare a resolved model with a lock entry (its own, or its origin's for a mirror check).

    The digests of ``manifest`` (and of the artifact's files) are reused, with the entry's ignore patterns.
    ``revision``/``repo_uid``/``signer`` are what resolution and signature verification found, compared
    when the entry pins them.
    """
    hashed = with_digests_of(artifact, manifest, entry.algorithm)
    current = manifest_for(hashed, entry.algorithm, ignore=entry.ignore)
    differences = [Difference("rejected", rel, reason) for rel, reason in current.rejected]
    pinned = dict(entry.files)
    if manifest_digest(list(entry.files), entry.algorithm) != entry.manifest_digest:
        differences.append(Difference("entry", entry.source, "its manifest_digest does not match its files"))
    if entry.revision and revision and revision != entry.revision:
        differences.append(Difference("revision", revision, f"locked at {entry.revision}"))
    if entry.repo_uid and repo_uid and repo_uid != entry.repo_uid:
        differences.append(
            Difference("repo", repo_uid, f"locked repo id {entry.repo_uid}: deleted and recreated?")
        )
    if entry.signer and signer != entry.signer:
        found = f"signed by {signer}" if signer else "no verified signature"
        differences.append(Difference("signer", entry.signer, f"expected; {found}"))
    differences += diff_digests(pinned, current.digests())
    return LockCheck(entry.source, current.digest, tuple(differences))


def check_mirror(mirror: Artifact, origin: Artifact | LockEntry, *, algorithm: str = "sha256") -> LockCheck:
    """Compare a mirror's copy with the origin's manifest (an origin model, or its lock entry)."""
    if isinstance(origin, Artifact):
        origin = lock_entry(origin.source or str(origin.root), manifest_for(origin, algorithm))
    return check_lock(mirror, replace(origin, signer=None))
