"""Advisories in every composition: ``sync`` and ``check``, and the one call each of ``scan`` (hence
``gate``), ``inventory`` and ``reverify`` makes to check a model's digests against the local cache.

Without a cache nothing is imported or opened, so a scan pays nothing until ``modelseal advisories sync``
has been run. Settings: ``[tool.modelseal.advisories]`` ``cache`` (path) and ``max-age-days`` (7).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelseal.advisories import DEFAULT_MAX_AGE_DAYS, default_cache_path
from modelseal.core.config import Config
from modelseal.core.errors import ConfigError
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding

if TYPE_CHECKING:
    from modelseal.advisories.cache import AdvisoryCache, CacheStatus, SyncReport
    from modelseal.advisories.loaders import Installed
    from modelseal.advisories.recheck import NewlyAffected
    from modelseal.core.artifact import Artifact
    from modelseal.integrity.manifest import Manifest
    from modelseal.inventory.model import Reference
    from modelseal.provenance.facts import ModelFacts
    from modelseal.sources.interface import Resolved


TRIAGE_STATES = (
    "resolved",
    "resolved_with_pedigree",
    "exploitable",
    "in_triage",
    "false_positive",
    "not_affected",
)
"""CycloneDX VEX analysis states a triage may record."""


@dataclass(frozen=True)
class AdvisorySettings:
    cache: Path
    max_age_days: float
    triage: tuple[tuple[str, str, str, str], ...] = ()
    """(advisory id, VEX state, justification, detail) from ``[tool.modelseal.advisories.triage.<id>]``."""

    @classmethod
    def from_config(cls, config: Config | None, cache: Path | None = None) -> AdvisorySettings:
        table = (config or Config()).raw.get("advisories", {})
        if not isinstance(table, dict):
            raise ConfigError("[tool.modelseal.advisories] must be a table")
        age = table.get("max-age-days", DEFAULT_MAX_AGE_DAYS)
        if isinstance(age, bool) or not isinstance(age, (int, float)) or age <= 0:
            raise ConfigError("[tool.modelseal.advisories] max-age-days must be a positive number")
        where = cache or (
            Path(table["cache"]) if isinstance(table.get("cache"), str) else default_cache_path()
        )
        return cls(where, float(age), _triage(table.get("triage", {})))

    def open(self) -> AdvisoryCache | None:
        """The cache when one has been synced; None otherwise."""
        if not self.cache.is_file():
            return None
        from modelseal.advisories.cache import AdvisoryCache

        return AdvisoryCache.open(self.cache, write=False)

    def checked(self, work: Callable[[AdvisoryCache], list[Finding]]) -> list[Finding]:
        """``work`` on the cache when there is one; a cache that cannot be read is a finding (nothing was
        checked), never a crash of the scan that asked."""
        if not self.cache.is_file():  # no cache: nothing imported, nothing opened
            return []
        from modelseal.advisories.cache import AdvisoryCache, CacheError

        try:
            with AdvisoryCache.open(self.cache, write=False) as cache:
                return work(cache)
        except CacheError as exc:
            return [make_finding("MS-ADVISORY-CACHE-STALE", f"nothing was checked: {exc}")]


def _triage(table: object) -> tuple[tuple[str, str, str, str], ...]:
    if not isinstance(table, dict):
        raise ConfigError("[tool.modelseal.advisories.triage] must be a table of advisory ids")
    out = []
    for ident, entry in sorted(table.items()):
        state = entry.get("state") if isinstance(entry, dict) else None
        if state not in TRIAGE_STATES:
            raise ConfigError(
                f"[tool.modelseal.advisories.triage.{ident!r}] state is one of {', '.join(TRIAGE_STATES)}"
            )
        out.append(
            (str(ident), str(state), str(entry.get("justification", "")), str(entry.get("detail", "")))
        )
    return tuple(out)


def digest_check(
    cache: AdvisoryCache, files: Mapping[str, str | None], manifest: str | None
) -> list[Finding]:
    """Every active advisory listing one of ``files`` (relpath → digest) or the ``manifest`` digest."""
    from modelseal.advisories.findings import digest_findings

    hits = cache.digest_hits([d for d in (*files.values(), manifest) if d])
    return digest_findings(hits, files, manifest)


def cache_age(cache: AdvisoryCache, settings: AdvisorySettings) -> Finding:
    """How old the cache is (stale past ``max-age-days``)."""
    from modelseal.advisories.findings import age_finding

    return age_finding(cache.status(), settings.max_age_days)


def target_findings(
    res: Resolved, hashed: Artifact, manifest: Manifest | None, config: Config, *, offline: bool = False
) -> list[Finding]:
    """What ``scan`` (and so ``gate``) adds for one hashed target: cache age and advisory hits, and, for a
    revision resolved online through the hub, the hub's record of each file."""
    settings = AdvisorySettings.from_config(config)
    files = {e.relpath: e.digest for e in hashed.files}
    out = settings.checked(
        lambda cache: [
            cache_age(cache, settings),
            *digest_check(cache, files, manifest.digest if manifest else None),
        ]
    )
    if res.model_id and res.revision and res.repo_uid and not offline:  # resolved online through the hub
        from modelseal.advisories.hub import fetch_model_info, hub_signals

        info = fetch_model_info(res.model_id, res.revision)
        if info is not None:
            out += hub_signals(info, files).findings
    return out


@dataclass(frozen=True)
class SyncRequest:
    sources: tuple[str, ...]
    """URLs, files (JSON or zip such as OSV's ``PyPI/all.zip``) or folders of OSV JSON."""
    cache: Path | None = None
    allow_mass_withdrawal: bool = False
    config: Config | None = None


def sync(req: SyncRequest) -> SyncReport:
    """Merge every source into the cache in one transaction; :class:`~modelseal.advisories.osv.FeedError`
    (the cache unchanged) on the first bad record."""
    from modelseal.advisories.cache import AdvisoryCache
    from modelseal.advisories.feeds import read_feed

    settings = AdvisorySettings.from_config(req.config, req.cache)
    with AdvisoryCache.open(settings.cache) as cache:
        return cache.sync(
            ((s, read_feed(s)) for s in req.sources), allow_mass_withdrawal=req.allow_mass_withdrawal
        )


@dataclass(frozen=True)
class CheckRequest:
    targets: tuple[str, ...] = ()
    """Models (paths, hub references, cache snapshots) whose digests are checked."""
    environment: bool = False
    """Also check the loader libraries installed in this interpreter."""
    site_packages: tuple[Path, ...] = ()
    """Check the loader libraries installed in these folders instead of this interpreter's."""
    requirements: tuple[Path, ...] = ()
    """Requirements or lock files whose pins are checked."""
    code: tuple[Path, ...] = ()
    """Source trees whose ``torch.load(..., weights_only=True)`` calls are linked to torch advisories."""
    osv_api: str | None = None
    """Also ask this OSV API (``https://api.osv.dev``) about the packages: online, optional."""
    cache: Path | None = None
    config: Config | None = None
    offline: bool = False


@dataclass(frozen=True)
class CheckResult:
    findings: tuple[Finding, ...]
    status: CacheStatus | None
    packages: tuple[Installed, ...] = field(default=())


def check(req: CheckRequest) -> CheckResult:
    """Every target's digests against the cache, and the loader libraries asked for against the cache (and
    the OSV API when given). Raises when no cache exists and no online source was named."""
    from modelseal.advisories.loaders import environment_packages, requirement_packages
    from modelseal.core.errors import ModelsealError
    from modelseal.integrity.manifest import manifest_for
    from modelseal.inventory.discover import discover
    from modelseal.sources.resolve import resolve

    settings = AdvisorySettings.from_config(req.config, req.cache)
    cache = settings.open()
    if cache is None and req.osv_api is None:
        raise ModelsealError(
            f"no advisory cache at {settings.cache}", hint="run `modelseal advisories sync SOURCE...` first"
        )
    packages: list[Installed] = []
    if req.environment or req.site_packages:
        packages += environment_packages([str(p) for p in req.site_packages] if req.site_packages else None)
    for path in req.requirements:
        packages += requirement_packages(path)
    code = [r for r in discover([str(p) for p in req.code]) if r.kind == "code"] if req.code else []
    findings: list[Finding] = [cache_age(cache, settings)] if cache is not None else []
    try:
        for target in req.targets:
            res = resolve(target, offline=req.offline)
            manifest = manifest_for(res.artifact)
            files = {f.relpath: f.digest for f in manifest.files}
            if cache is not None:
                findings += [_at(f, target) for f in digest_check(cache, files, manifest.digest)]
        findings += loader_findings(cache, packages, code, req.osv_api)
        status = cache.status() if cache is not None else None
    finally:
        if cache is not None:
            cache.close()
    return CheckResult(tuple(findings), status, tuple(packages))


def loader_findings(
    cache: AdvisoryCache | None,
    packages: Sequence[Installed],
    code: Sequence[Reference],
    osv_api: str | None = None,
) -> list[Finding]:
    """Vulnerable loader libraries (from the cache and, when given, the OSV API), linked to the loads."""
    from modelseal.advisories.findings import package_findings
    from modelseal.advisories.loaders import check_packages

    hits = check_packages(cache, packages) if cache is not None else []
    if osv_api is not None:
        from modelseal.advisories.osvapi import query

        seen = {(h.package, h.advisory.advisory) for h in hits}
        hits += [h for h in query(packages, osv_api) if (h.package, h.advisory.advisory) not in seen]
    return package_findings(hits, weights_only_loads(code))


def weights_only_loads(refs: Sequence[Reference]) -> list[tuple[str, str]]:
    """Where code calls ``torch.load`` with ``weights_only=True`` (the inventory's code references, which
    flag every other ``torch.load`` as unsafe deserialisation), and what it loads."""
    from modelseal.inventory.model import UNSAFE

    return [
        (r.location, r.model)
        for r in refs
        if r.kind == "code" and r.loader == "torch.load" and UNSAFE not in r.flags
    ]


def inventory_findings(
    refs: Sequence[Reference], paths: Sequence[str], config: Config
) -> tuple[Finding, ...]:
    """What ``inventory`` adds when a cache exists: each model on disk checked by digest (a cached hub
    blob named by its SHA-256 is not read again), and the loader libraries of this interpreter and of the
    requirements and lock files at the top of each path, linked to the loads the inventory found."""
    settings = AdvisorySettings.from_config(config)

    def work(cache: AdvisoryCache) -> list[Finding]:
        from modelseal.advisories.loaders import environment_packages, repository_packages
        from modelseal.core.errors import SourceError
        from modelseal.integrity.manifest import manifest_for
        from modelseal.sources.resolve import resolve

        findings = [cache_age(cache, settings)]
        for ref in refs:
            if ref.kind not in ("folder", "file", "hf-cache"):
                continue
            try:
                artifact = _named_by_digest(resolve(ref.location).artifact)
            except SourceError:
                continue
            manifest = manifest_for(artifact)
            hits = digest_check(cache, {f.relpath: f.digest for f in manifest.files}, manifest.digest)
            findings += [_at(f, ref.location) for f in hits]
        packages = environment_packages()
        for path in paths:
            if Path(path).is_dir():
                packages += repository_packages(Path(path))
        return findings + loader_findings(cache, packages, [r for r in refs if r.kind == "code"])

    return tuple(dict.fromkeys(settings.checked(work)))


def _at(finding: Finding, location: str) -> Finding:
    return finding.with_file(f"{location}/{finding.file}" if finding.file else location)


def _named_by_digest(artifact: Artifact) -> Artifact:
    """Files that are links to Hugging Face cache blobs named by a SHA-256 carry that digest."""
    import re

    named = {}
    for e in artifact.files:
        blob = e.path.resolve().name if e.path.is_symlink() else ""
        if re.fullmatch(r"[0-9a-f]{64}", blob):
            named[e.relpath] = f"sha256:{blob}"
    return artifact.with_digests(named) if named else artifact


def bom_advisories(facts: ModelFacts, manifest: Manifest, config: Config) -> ModelFacts:
    """The BOM's facts with the advisories listing the model's digests and the user's triage of them."""
    from dataclasses import replace

    settings = AdvisorySettings.from_config(config)
    cache = settings.open()
    if cache is None:
        return facts
    with cache:
        found = digest_check(cache, manifest.digests(), manifest.digest)
    return replace(facts, advisories=tuple(found), triage=settings.triage)


def reverify_changes(
    now: Mapping[str, tuple[str, Sequence[Finding]]], state: Path, config: Config
) -> tuple[NewlyAffected, ...]:
    """What ``reverify`` adds: every model an advisory lists now and did not at its last run (nothing while
    there is no usable cache: each model's scan then says so)."""
    from modelseal.advisories.cache import CacheError
    from modelseal.advisories.recheck import recheck, state_path_for

    try:
        cache = AdvisorySettings.from_config(config).open()
        if cache is None:
            return ()
        with cache:
            generation = cache.status().generation
    except CacheError:
        return ()
    return recheck(now, state_path_for(state), generation)


__all__ = [
    "AdvisorySettings",
    "CheckRequest",
    "CheckResult",
    "SyncRequest",
    "check",
    "inventory_findings",
    "reverify_changes",
    "sync",
    "target_findings",
]
