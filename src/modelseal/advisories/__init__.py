"""Advisories: known-bad models (OSV records listing model digests), vulnerable loader libraries (OSV PyPI
records), and the Hugging Face hub's own signals, checked against a local cache that ``modelseal advisories
sync`` fills (see ``docs/advisories.md``).

This module stays light: :mod:`modelseal.api` asks it where the cache is before importing SQLite, so a scan
without a cache pays nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "MODELSEAL_ADVISORY_CACHE"
DEFAULT_MAX_AGE_DAYS = 7.0
"""A cache synced longer ago than this is stale (``[tool.modelseal.advisories] max-age-days``)."""


def default_cache_path() -> Path:
    """``MODELSEAL_ADVISORY_CACHE``, else ``advisories.sqlite`` in the user cache folder."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env)
    from modelseal.core.config import user_cache_folder

    return user_cache_folder() / "advisories.sqlite"
