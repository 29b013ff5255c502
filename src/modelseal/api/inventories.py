"""``inventory`` and ``reverify``: every model in use, rated; and each one re-checked since the last run.

Tiers come from :func:`modelseal.api.checks.tier_of` (the user's ``provenance`` settings included, as for
``scan`` and ``gate``); re-verification examines each model once and checks its lock entry once, against
the one lockfile given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelseal.api.checks import LOCKFILE, LockSource, read_lockfile, tier_of
from modelseal.api.examination import Examined, ScanRequest, examine
from modelseal.core.config import Config, load_config
from modelseal.core.errors import UsageError
from modelseal.core.result import ScanResult
from modelseal.inventory.discover import discover
from modelseal.inventory.model import Reference
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
    """An entry is rated ``fail_on`` or worse."""


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
    refs = discover(list(req.paths), include_default_cache=req.include_default_cache)
    assessed = tuple(assess(r, tier_name, usage_for(r, rules, req.default_usage)) for r in refs)
    failed = False
    if req.fail_on:
        floor = RATING_LABELS.index(req.fail_on)
        failed = any(RATING_LABELS.index(a.rating) <= floor for a in assessed)
    return InventoryResult(assessed, failed)


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

    @property
    def worse(self) -> bool:
        return self.reverification.worse


def lock_key_of(ref: Reference) -> str:
    """A cached hub revision is locked as ``hf://org/name`` (as ``modelseal lock hf://...`` writes it); a
    file or folder by its path."""
    return f"{HF_SCHEME}{ref.model}" if ref.kind == "hf-cache" else Path(ref.location).as_posix()


def reverify(req: ReverifyRequest) -> ReverifyResult:
    """Examine every model found once; compare it with the last run and with its one lock entry."""
    from modelseal.api.checks import lock_outcome

    config = load_config()
    refs = discover(list(req.paths), include_default_cache=req.include_default_cache)
    source: LockSource = read_lockfile(req.lockfile)
    examined: dict[str, Examined] = {}

    def scan(location: str) -> ScanResult:
        found = examine(ScanRequest((location,), config, lockfile=False))
        examined[location] = found.targets[0]
        return found.result

    def lock_check(ref: Reference) -> tuple[str, ...]:
        seen = examined[ref.location]
        if source.lock is None or seen.manifest is None:
            return ()
        key = lock_key_of(ref)
        if source.lock.get(key) is None:
            return ()
        outcome = lock_outcome(seen.resolved, seen.artifact, seen.manifest, source, key, signer=None)
        return tuple(str(d) for d in outcome.check.differences) if outcome.check else ()

    state = req.state or default_state_path()
    return ReverifyResult(reverify_refs(refs, state, scan=scan, lock_check=lock_check))
