"""``bom`` and ``names``: what a model is and where it comes from, from one resolution.

The target is resolved by its source (``hf://`` offline from the cache, a cache snapshot, a folder, a
bucket), which says its hub id and commit; every file is hashed once; the tier comes from the same
:func:`~modelseal.api.checks.tier_of` as ``scan`` and ``gate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelseal.api.checks import tier_of
from modelseal.core.config import Config, load_config
from modelseal.core.tiers import UNKNOWN_TIER
from modelseal.integrity.manifest import manifest_for
from modelseal.provenance.config import ProvenanceConfig
from modelseal.provenance.facts import ModelFacts, collect
from modelseal.provenance.names import InternalNames, check_names
from modelseal.reports.names import RatedName
from modelseal.sources.resolve import resolve


@dataclass(frozen=True)
class BomRequest:
    model: str
    """A path, a cache snapshot, ``hf://org/name@rev`` (offline: from the cache) or ``s3://bucket/prefix``."""
    model_id: str | None = None
    """Hub id (``org/name``) when resolution cannot tell it."""
    revision: str | None = None
    """Commit the files come from, when resolution cannot tell it."""
    config: Path | None = None
    """Configuration file; None: found from the working folder upwards."""
    offline: bool = False
    """``hf://`` only: use the local cache, never the network."""
    cache_dir: Path | None = None


@dataclass(frozen=True)
class BomResult:
    facts: ModelFacts
    """What both BOM writers render; ``facts.findings`` are the card and name problems."""


def facts_of(
    target: str,
    *,
    model_id: str | None = None,
    revision: str | None = None,
    config: Config | None = None,
    offline: bool = False,
    cache_dir: Path | None = None,
) -> ModelFacts:
    """Resolve and hash one model and read it into BOM facts."""
    config = config or Config()
    res = resolve(target, max_files=config.limits.max_files, offline=offline, cache_dir=cache_dir)
    manifest = manifest_for(res.artifact, ignore=())  # a BOM lists every file, .git included
    model_id = model_id or res.model_id
    facts = collect(
        res.artifact.with_digests(manifest.digests()),
        manifest.digest,
        model_id=model_id,
        revision=revision or res.revision,
        tier=tier_of(model_id, config),
        config=ProvenanceConfig.from_config(config),
        limits=config.limits,
    )
    from modelseal.api.advisories import bom_advisories

    return bom_advisories(facts, manifest, config)


def bom(req: BomRequest) -> BomResult:
    config = load_config(req.config)
    facts = facts_of(
        req.model,
        model_id=req.model_id,
        revision=req.revision,
        config=config,
        offline=req.offline,
        cache_dir=req.cache_dir,
    )
    return BomResult(facts)


@dataclass(frozen=True)
class NamesRequest:
    ids: tuple[str, ...]
    internal: Path | None = None
    """File of internal names: one ``org/name``, ``name`` or ``org/*`` per line."""
    config: Path | None = None


@dataclass(frozen=True)
class NamesResult:
    rated: tuple[RatedName, ...]

    @property
    def suspicious(self) -> bool:
        return any(r.verdict.suspicious for r in self.rated)


def names(req: NamesRequest) -> NamesResult:
    """Flag look-alikes of well-known ids and collisions with internal names; rate each publisher."""
    config = load_config(req.config)
    settings = ProvenanceConfig.from_config(config)
    declared = (
        settings.internal.merged(InternalNames.load(req.internal)) if req.internal else settings.internal
    )
    verdicts = check_names(list(req.ids), declared, settings.catalogue())
    rated = []
    for v in verdicts:
        tier = tier_of(v.model_id, config)
        rated.append(RatedName(v, tier.tier if tier else UNKNOWN_TIER))
    return NamesResult(tuple(rated))
