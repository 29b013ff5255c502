"""``inventory`` and ``reverify``: every model in use, rated; and each one re-checked since the last run.

Tiers come from :func:`modelseal.api.checks.tier_of` (the user's ``provenance`` settings included, as for
``scan`` and ``gate``); re-verification examines each model once and checks its lock entry once, against
the one lockfile given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from modelseal.advisories.recheck import NewlyAffected
from modelseal.api.advisories import inventory_findings, reverify_changes
from modelseal.api.checks import LOCKFILE, LockSource, read_lockfile, tier_of
from modelseal.api.examination import Examined, ScanRequest, examine
from modelseal.core.config import Config, load_config
from modelseal.core.errors import UsageError
from modelseal.core.findings import Finding, Severity
from modelseal.core.result import ScanResult
from modelseal.inventory.discover import discover
from modelseal.inventory.model import UNSAFE, Reference
from modelseal.inventory.reverify import Reverification, default_state_path
from modelseal.inventory.reverify import reverify as reverify_refs
from modelseal.inventory.risk import CLASSES, RATINGS, Assessment, assess, load_usage_rules, usage_for
from modelseal.inventory.risk import Usage as Usage  # requests carry it
from modelseal.sources import HF_SCHEME

RATING_LABELS = tuple(label for _, label in RATINGS)
"""From the most urgent (``critical``) to ``low``: what ``--fail-on`` accepts."""


@dataclass(frozen=True)
class InventoryRequest:
    paths: tuple[str, ...]
    """Folders, files, Hugging Face caches, source trees."""
    include_default_cache: bool = False
    usage_rules: Path | None = None
    """YAML: match → usage classes."""
    default_usage: Usage = field(default_factory=Usage)
    fail_on: str = ""
    """A rating (``critical`` ... ``low``): the result fails when an entry is rated this or worse."""
    config: Config | None = None
    """None: the configuration found from the working folder upwards."""


@dataclass(frozen=True)
class InventoryResult:
    assessments: tuple[Assessment, ...]
    failed: bool
    """An entry is rated ``fail_on`` or worse (or, with ``fail_on``, an advisory finding is high or worse)."""
    advisories: tuple[Finding, ...] = ()
    """Advisory findings: models listed by an advisory, vulnerable loader libraries, the cache's age."""
    warnings: tuple[str, ...] = ()
    """Paths left out, with why (a Hugging Face cache folder that does not exist yet)."""


def check_usage(usage: Usage, fail_on: str = "") -> None:
    """UsageError naming the first class or rating that is not one of the known values."""
    for name in ("criticality", "data_sensitivity", "exposure"):
        value = getattr(usage, name)
        if value and value not in CLASSES[name]:
            raise UsageError(f"--{name.replace('_', '-')} is one of {', '.join(CLASSES[name])}")
    if fail_on and fail_on not in RATING_LABELS:
        raise UsageError(f"--fail-on is one of {', '.join(RATING_LABELS)}")


def inventory(req: InventoryRequest) -> InventoryResult:
    """Discover every model reference under the paths and rate each one."""
    check_usage(req.default_usage, req.fail_on)
    config = req.config or load_config()

    def tier_name(model_id: str) -> str | None:
        found = tier_of(model_id, config)
        return found.name if found else None

    rules = load_usage_rules(req.usage_rules) if req.usage_rules else ()
    paths, warnings = present_paths(req.paths)
    refs = [
        flag_from_scan(r, config) for r in discover(paths, include_default_cache=req.include_default_cache)
    ]
    assessed = tuple(assess(r, tier_name, usage_for(r, rules, req.default_usage)) for r in refs)
    advisories = inventory_findings(refs, req.paths, config)
    failed = False
    if req.fail_on:
        floor = RATING_LABELS.index(req.fail_on)
        failed = any(RATING_LABELS.index(a.rating) <= floor for a in assessed)
        failed = failed or any(f.severity >= Severity.HIGH for f in advisories)
    return InventoryResult(assessed, failed, advisories, warnings)


def present_paths(paths: tuple[str, ...]) -> tuple[list[str], tuple[str, ...]]:
    """The paths to walk, and a warning for each Hugging Face cache folder that does not exist (nothing
    downloaded on this machine yet: an empty cache, not a mistake). Any other missing path stays an error."""
    kept: list[str] = []
    warnings: list[str] = []
    for p in paths:
        if not Path(p).exists() and Path(p).parts[-2:] == ("huggingface", "hub"):
            warnings.append(f"{p}: no Hugging Face cache there (nothing downloaded yet); left out")
        else:
            kept.append(p)
    return kept, tuple(warnings)


def flag_from_scan(ref: Reference, config: Config) -> Reference:
    """A torch file is pickle inside (a whole pickled model runs code on load, a state dict does not):
    its ``unsafe-deserialisation`` flag comes from the static scan, as ``scan`` rates it (high or worse),
    where pickle and joblib files carry it by their format alone."""
    if ref.kind == "code" or "pytorch" not in ref.format.split("+") or UNSAFE in ref.flags:
        return ref
    from modelseal.api.scanning import scan

    found = scan([ref.location], config, digests=False)
    if any(f.severity >= Severity.HIGH for f in found.iter_findings()):
        return replace(ref, flags=(*ref.flags, UNSAFE))
    return ref


@dataclass(frozen=True)
class ReverifyRequest:
    paths: tuple[str, ...]
    state: Path | None = None
    """The last run's state (JSON); None: in the user data folder."""
    lockfile: Path = Path(LOCKFILE)
    include_default_cache: bool = False


@dataclass(frozen=True)
class ReverifyResult:
    reverification: Reverification
    newly_affected: tuple[NewlyAffected, ...] = ()
    """Models an advisory lists now and did not at the last run, with the advisory id."""

    @property
    def worse(self) -> bool:
        return self.reverification.worse or bool(self.newly_affected)


def lock_key_of(ref: Reference) -> str:
    """A cached hub revision is locked as ``hf://org/name`` (as ``modelseal lock hf://...`` writes it); a
    file or folder by its path."""
    return f"{HF_SCHEME}{ref.model}" if ref.kind == "hf-cache" else Path(ref.location).as_posix()


def reverify(req: ReverifyRequest) -> ReverifyResult:
    """Examine every model found once; compare it with the last run and with its one lock entry."""
    from modelseal.api.checks import lock_outcome

    config = load_config()
    paths, _ = present_paths(req.paths)
    refs = discover(paths, include_default_cache=req.include_default_cache)
    source: LockSource = read_lockfile(req.lockfile)
    examined: dict[str, Examined] = {}
    examined_findings: dict[str, list[Finding]] = {}

    def scan(location: str) -> ScanResult:
        found = examine(ScanRequest((location,), config, lockfile=False))
        examined[location] = found.targets[0]
        examined_findings[location] = list(found.result.iter_findings())
        return found.result

    def lock_check(ref: Reference) -> tuple[str, ...]:
        seen = examined[ref.location]
        if source.lock is None or seen.manifest is None:
            return ()
        key = lock_key_of(ref)
        if source.find(key)[1] is None:
            return ()
        outcome = lock_outcome(seen.resolved, seen.artifact, seen.manifest, source, key, signer=None)
        return tuple(str(d) for d in outcome.check.differences) if outcome.check else ()

    state = req.state or default_state_path()
    result = reverify_refs(refs, state, scan=scan, lock_check=lock_check)
    seen = {ref.location: ref.model for ref in refs if ref.location in examined}
    now = {loc: (seen[loc], tuple(examined_findings[loc])) for loc in seen}
    return ReverifyResult(result, reverify_changes(now, state, config))
