"""A risk rating and a priority for each inventory entry.

Likelihood comes from what is known about the source (publisher reputation, pinning, how it is
loaded); impact from how the model is used (criticality, data sensitivity, exposure), which the user
declares. Unknown is scored as bad: a model nobody classified is not assumed to be harmless.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelseal.core.errors import ConfigError
from modelseal.core.tiers import TIER_NAMES
from modelseal.inventory.model import DYNAMIC, REMOTE_CODE, UNPINNED, UNSAFE, Reference

TIER_POINTS = {name: min(tier - 1, 3) for tier, name in TIER_NAMES.items()}
"""Likelihood points of a publisher tier: 0 for a major lab up to 3 for anonymous or unknown."""
FLAG_POINTS = {UNSAFE: 3, REMOTE_CODE: 3, UNPINNED: 1, DYNAMIC: 1}
CLASSES = {
    "criticality": ("low", "medium", "high", "critical"),
    "data_sensitivity": ("public", "internal", "confidential", "restricted"),
    "exposure": ("offline", "internal", "partner", "internet"),
}
RATINGS = ((7, "critical"), (5, "high"), (3, "medium"), (0, "low"))
PRIORITY = {"critical": "immediate", "high": "immediate", "medium": "scheduled", "low": "periodic"}


@dataclass(frozen=True)
class Usage:
    """How a model is used; ``""`` means not declared (scored as medium)."""

    criticality: str = ""
    data_sensitivity: str = ""
    exposure: str = ""


@dataclass(frozen=True)
class UsageRule:
    match: str
    """Glob over the model id or the location."""
    usage: Usage


@dataclass(frozen=True)
class Assessment:
    reference: Reference
    publisher: str
    tier: str
    usage: Usage
    likelihood: int
    impact: int
    rating: str
    priority: str


def publisher_of(ref: Reference) -> str:
    """The hub namespace for hub references (``org`` of ``org/name``), else ``""`` (local)."""
    if ref.kind == "hf-cache" or (
        ref.kind == "code" and "/" in ref.model and not ref.model.startswith(("<", ".", "/"))
    ):
        return ref.model.split("/", 1)[0]
    return ""


def _bare_name(model: str) -> bool:
    """A legacy un-namespaced hub id (``bert-base-uncased``), not a path or a computed source."""
    return bool(model) and not model.startswith(("<", ".", "/", "~")) and not set("/\\:") & set(model)


def usage_for(ref: Reference, rules: tuple[UsageRule, ...], default: Usage) -> Usage:
    """The first rule matching the model or the location wins; fields it leaves empty fall back."""
    for rule in rules:
        if fnmatch.fnmatchcase(ref.model, rule.match) or fnmatch.fnmatchcase(ref.location, rule.match):
            u = rule.usage
            return Usage(
                u.criticality or default.criticality,
                u.data_sensitivity or default.data_sensitivity,
                u.exposure or default.exposure,
            )
    return default


def assess(ref: Reference, tier_of: Callable[[str], str | None], usage: Usage) -> Assessment:
    """``tier_of`` maps a hub id to its publisher's tier name (None: not known)."""
    publisher = publisher_of(ref)
    hub_like = publisher or (ref.kind == "code" and _bare_name(ref.model))
    tier = (tier_of(ref.model) if hub_like else None) or "unknown"
    likelihood = TIER_POINTS.get(tier, 3) + sum(FLAG_POINTS.get(f, 0) for f in set(ref.flags))
    impact = max(
        CLASSES[name].index(value) if value else 1
        for name, value in (
            ("criticality", usage.criticality),
            ("data_sensitivity", usage.data_sensitivity),
            ("exposure", usage.exposure),
        )
    )
    score = min(likelihood, 6) + impact
    rating = next(label for floor, label in RATINGS if score >= floor)
    return Assessment(ref, publisher, tier, usage, likelihood, impact, rating, PRIORITY[rating])


def load_usage_rules(path: Path) -> tuple[UsageRule, ...]:
    """A YAML list of ``{match, criticality, data-sensitivity, exposure}``, first match wins."""
    import yaml

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read usage classes ({exc})") from None
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of {{match, criticality, data-sensitivity, exposure}}")
    rules = []
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict) or not isinstance(item.get("match"), str):
            raise ConfigError(f"{path}: entry {n} needs a 'match' pattern")
        values = {}
        for key, value in item.items():
            name = key.replace("-", "_")
            if key == "match":
                continue
            if name not in CLASSES or value not in CLASSES[name]:
                raise ConfigError(
                    f"{path}: entry {n}: {key}={value!r} is not one of {CLASSES.get(name, CLASSES)}"
                )
            values[name] = value
        rules.append(UsageRule(item["match"], Usage(**values)))
    return tuple(rules)
