"""Hypothesis settings for the differential oracle tests: the same bounded examples on every CI run, more
and random ones on demand.

In CI the examples are derandomized (drawn from a fixed seed, no example database), so the suite is fast and
a failure reproduces anywhere; the oracles run real loaders or renderers in subprocesses, so there is no
per-example deadline. ``MODELSEAL_ORACLE_EXAMPLES=N`` runs N random examples per test instead (a long run
on a developer machine; ``bench/fuzz_differential.py`` is the long run for pickles).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_LONG = int(os.environ.get("MODELSEAL_ORACLE_EXAMPLES", "0") or 0)


def oracle_settings(examples: int) -> settings:
    """``examples`` derandomized examples in CI; ``MODELSEAL_ORACLE_EXAMPLES`` random ones when set."""
    return settings(
        max_examples=_LONG or examples,
        derandomize=not _LONG,
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
