"""How many CPUs this process may use: the one answer for hashing threads and scanning processes."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """Cores this process may run on (not the machine's count, which containers and affinity reduce)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)
