"""Optional libraries: one check, and one message naming the extra that installs them."""

from __future__ import annotations

import importlib.util

from modelseal.core.errors import MissingExtra


def importable(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (a missing parent counts as missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: a module whose __spec__ is None (set up by hand)
        return False


def require(extra: str, *modules: str, feature: str = "") -> None:
    """Raise :class:`MissingExtra` unless every one of ``modules`` can be imported; ``feature`` says what
    needs them ("signing models"), and the message ends with ``pip install 'modelseal[extra]'``."""
    missing = tuple(m for m in modules if not importable(m))
    if missing:
        raise MissingExtra(extra, missing, feature)
