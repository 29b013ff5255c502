"""Protection inside the user's own process: :func:`guard` at the moment of loading, :class:`Guarded`
(sanitise, STRIP, validate, monitor), :class:`GuardMiddleware` (ASGI) and :class:`ReviewSink` (held
answers to the registry's review queue) while a model serves.

See :mod:`modelseal.runtime.guard` for how loaders are wrapped and :mod:`modelseal.runtime.audit` for the
audit hook behind them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelseal.runtime.errors import GuardWarning, ModelBlocked
from modelseal.runtime.guard import BLOCK, WARN, GuardConfig, active_config, guard, unguard

if TYPE_CHECKING:
    from modelseal.runtime.asgi import GuardMiddleware
    from modelseal.runtime.guarded import Guarded
    from modelseal.runtime.review import ReviewSink

__all__ = [
    "BLOCK",
    "WARN",
    "GuardConfig",
    "GuardMiddleware",
    "GuardWarning",
    "Guarded",
    "ModelBlocked",
    "ReviewSink",
    "active_config",
    "guard",
    "unguard",
]


def __getattr__(name: str) -> Any:
    """The serving wrappers are imported on first use: the loader guard must stay light."""
    if name == "Guarded":
        from modelseal.runtime.guarded import Guarded

        return Guarded
    if name == "GuardMiddleware":
        from modelseal.runtime.asgi import GuardMiddleware

        return GuardMiddleware
    if name == "ReviewSink":
        from modelseal.runtime.review import ReviewSink

        return ReviewSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
