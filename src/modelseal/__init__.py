"""modelseal: decide whether a model is safe to load, without ever loading it.

The public face is :func:`modelseal.scan`; everything heavy is imported lazily so that
``import modelseal`` stays cheap on the command line's hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from modelseal.api import scan as scan
    from modelseal.core.result import ScanResult as ScanResult

__all__ = ["ScanResult", "__version__", "guard", "scan"]


def __getattr__(name: str) -> Any:
    if name == "scan":
        from modelseal.api import scan

        return scan
    if name == "guard":
        from modelseal.runtime import guard

        return guard
    if name == "ScanResult":
        from modelseal.core.result import ScanResult

        return ScanResult
    raise AttributeError(f"module 'modelseal' has no attribute {name!r}")
