"""Publisher reputation tiers, 1 (major lab) to 5 (unknown), from a shipped, dated table.

The table is data, not code, so a change in trust is a reviewable diff; configuration extends or
overrides it (``[tool.modelseal.provenance] publishers = {org = tier}``). Anything unlisted is tier 5:
an unknown publisher is not evidence of a good one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from modelseal.core.errors import ConfigError
from modelseal.core.tiers import TIER_LABELS, TIER_NAMES, UNKNOWN_TIER
from modelseal.provenance._data import load_toml


@dataclass(frozen=True)
class PublisherTier:
    """The tier of one model id's publisher, and where the judgement came from."""

    publisher: str
    tier: int
    source: str
    """``shipped <date>``, ``configuration``, or ``not listed``."""

    @property
    def label(self) -> str:
        return TIER_LABELS[self.tier]

    @property
    def name(self) -> str:
        """The tier as policies and inventories name it (``major-lab`` ... ``unknown``)."""
        return TIER_NAMES[self.tier]


@dataclass(frozen=True)
class ReputationTable:
    tiers: Mapping[str, int]
    """Case-folded organisation -> tier."""
    date: str
    configured: frozenset[str] = frozenset()

    @classmethod
    def shipped(cls) -> ReputationTable:
        return _shipped_table()

    def with_overrides(self, publishers: Mapping[str, int], *, replace: bool = False) -> ReputationTable:
        """Configured tiers win over shipped ones; ``replace`` drops the shipped table altogether."""
        tiers = {} if replace else dict(self.tiers)
        for org, tier in publishers.items():
            tiers[org.casefold()] = _valid_tier(tier, f"publisher {org!r}")
        return ReputationTable(
            MappingProxyType(tiers), self.date, self.configured | {o.casefold() for o in publishers}
        )

    @property
    def organisations(self) -> frozenset[str]:
        return frozenset(self.tiers)

    def tier_of(self, model_id: str) -> PublisherTier:
        org = model_id.split("/", 1)[0] if "/" in model_id else ""
        folded = org.casefold()
        if folded in self.tiers:
            source = "configuration" if folded in self.configured else f"shipped {self.date}"
            return PublisherTier(org, self.tiers[folded], source)
        return PublisherTier(org, UNKNOWN_TIER, "not listed")


def _valid_tier(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ConfigError(f"{what}: tier must be an integer from 1 to 5, got {value!r}")
    return value


@lru_cache(maxsize=1)
def _shipped_table() -> ReputationTable:
    data = load_toml("publishers.toml")
    tiers: dict[str, int] = {}
    for key, orgs in data["tiers"].items():
        tier = _valid_tier(int(key), "publishers.toml")
        for org in orgs:
            tiers[str(org).casefold()] = tier
    return ReputationTable(MappingProxyType(tiers), str(data["date"]))


def publisher_tier(model_id: str, table: ReputationTable | None = None) -> PublisherTier:
    """The tier of ``model_id``'s organisation (``org/name``); what scans and BOMs record."""
    return (table or ReputationTable.shipped()).tier_of(model_id)
