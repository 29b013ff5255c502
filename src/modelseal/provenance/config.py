"""The provenance part of the user's configuration: tier overrides, extra known ids, internal names.

``[tool.modelseal.provenance]`` in pyproject.toml (or ``[provenance]`` in modelseal.toml), read through
the shared loader in :mod:`modelseal.core.config`::

    publishers = { acme = 1, some-reseller = 4 }   # extend or override the shipped tiers
    replace_publishers = false                     # true: use only the tiers given here
    known_models = ["acme/fraud-detector"]         # genuine ids the look-alike check should know
    internal = ["acme/*", "fraud-detector"]        # names no public id may take
    own_publishers = ["acme"]                      # the organisation's own: tier "organisation"
    local_owner = "acme"                           # who publishes local models (paths, buckets)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from modelseal.core.config import Config, load_config
from modelseal.core.errors import ConfigError
from modelseal.provenance.names import Catalogue, InternalNames
from modelseal.provenance.reputation import PublisherTier, ReputationTable

_KEYS = frozenset(
    {"publishers", "replace_publishers", "known_models", "internal", "own_publishers", "local_owner"}
)
OWN_TIER = 2
"""An organisation's own publishers rank as an established organisation with governance (``organisation``):
the default policy's prod minimum is ``individual``, so their signed, locked models pass without review.
``publishers`` may still give them another tier."""


@dataclass(frozen=True)
class ProvenanceConfig:
    publishers: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    replace_publishers: bool = False
    known_models: tuple[str, ...] = ()
    internal: InternalNames = field(default_factory=InternalNames)
    own_publishers: tuple[str, ...] = ()
    local_owner: str | None = None
    """The publisher of models with no hub id (local paths, buckets); None: they have no tier."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], origin: str = "configuration") -> ProvenanceConfig:
        unknown = set(data) - _KEYS
        if unknown:
            raise ConfigError(
                f"{origin}: unknown provenance setting(s) {sorted(unknown)}; known: {sorted(_KEYS)}"
            )
        publishers = data.get("publishers", {})
        if not isinstance(publishers, Mapping):
            raise ConfigError(f"{origin}: 'publishers' must be a table of organisation = tier")
        replace = data.get("replace_publishers", False)
        if not isinstance(replace, bool):
            raise ConfigError(f"{origin}: 'replace_publishers' must be true or false")
        known = _strings(data.get("known_models", []), "known_models", origin)
        internal = InternalNames.parse(_strings(data.get("internal", []), "internal", origin), origin)
        own = _strings(data.get("own_publishers", []), "own_publishers", origin)
        owner = data.get("local_owner")
        if owner is not None and (not isinstance(owner, str) or not owner or "/" in owner):
            raise ConfigError(f"{origin}: 'local_owner' must be an organisation name (no '/')")
        config = cls(MappingProxyType(dict(publishers)), replace, known, internal, own, owner)
        config.reputation()  # validates the tiers now, with the origin in the message
        config.catalogue()
        return config

    @classmethod
    def from_config(cls, config: Config) -> ProvenanceConfig:
        section = config.raw.get("provenance", {})
        if not isinstance(section, Mapping):
            raise ConfigError(f"{config.origin}: the provenance section must be a table")
        return cls.from_mapping(section, config.origin)

    @classmethod
    def load(cls, path: Path | None = None) -> ProvenanceConfig:
        """From an explicit file, else the modelseal.toml or pyproject.toml found from here upwards."""
        return cls.from_config(load_config(path))

    def reputation(self) -> ReputationTable:
        try:
            own = {org: OWN_TIER for org in self.own_publishers}
            return ReputationTable.shipped().with_overrides(
                {**own, **self.publishers}, replace=self.replace_publishers
            )
        except ConfigError as exc:
            raise ConfigError(f"provenance configuration: {exc}") from exc

    def tier_of(self, model_id: str | None) -> PublisherTier | None:
        """The tier of a hub id's publisher; of ``local_owner`` for a model without one."""
        if model_id:
            if "/" not in model_id:  # a legacy bare name: the hub redirects it to its organisation
                org = self.catalogue().owner_of(model_id)
                model_id = f"{org}/{model_id}" if org else model_id
            return self.reputation().tier_of(model_id)
        if self.local_owner is None:
            return None
        return self.reputation().tier_of(f"{self.local_owner}/local-model")

    def catalogue(self) -> Catalogue:
        return Catalogue.shipped().extended(self.known_models, self.reputation().organisations)


def _strings(value: object, key: str, origin: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{origin}: '{key}' must be a list of strings")
    return tuple(value)
