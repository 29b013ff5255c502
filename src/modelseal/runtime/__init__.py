"""Protection at the moment of loading, inside the user's own process: :func:`guard`.

See :mod:`modelseal.runtime.guard` for how loaders are wrapped and :mod:`modelseal.runtime.audit` for the
audit hook behind them.
"""

from __future__ import annotations

from modelseal.runtime.errors import GuardWarning, ModelBlocked
from modelseal.runtime.guard import BLOCK, WARN, GuardConfig, active_config, guard, unguard

__all__ = [
    "BLOCK",
    "WARN",
    "GuardConfig",
    "GuardWarning",
    "ModelBlocked",
    "active_config",
    "guard",
    "unguard",
]
