"""Publisher reputation tiers: one vocabulary for the reputation table, the policy and the inventory.

The shipped table rates organisations 1 (best) to 5; policies and inventories speak of them by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

TIER_NAMES: Mapping[int, str] = MappingProxyType(
    {1: "major-lab", 2: "organisation", 3: "individual", 4: "anonymous", 5: "unknown"}
)
"""Tier number → the name policies and inventories use."""
TIER_LABELS: Mapping[int, str] = MappingProxyType(
    {
        1: "major lab with a security team",
        2: "established organisation with governance",
        3: "verified individual",
        4: "anonymous or pseudonymous publisher",
        5: "unknown publisher",
    }
)
"""Tier number → what it means, for reports."""
UNKNOWN_TIER = 5
"""Anything unlisted: an unknown publisher is not evidence of a good one."""
LOWEST_FIRST: tuple[str, ...] = tuple(TIER_NAMES[t] for t in sorted(TIER_NAMES, reverse=True))
"""Tier names from the lowest (``unknown``) to the highest (``major-lab``): a policy's default order."""
