"""The optional compiled accelerators (C extensions built by ``pip install`` where a compiler is), each
used only when it was built from the source revision its Python side expects."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType


def built(name: str, revision: int, meanwhile: str) -> ModuleType | None:
    """Extension module ``name``, or None where it was not built or was built from another ``REVISION`` of
    its source (an editable install keeps the old module after a pull), then with a warning that says to
    rebuild and what runs ``meanwhile``."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    if getattr(module, "REVISION", None) != revision:
        warnings.warn(
            f"{module.__file__} was built from another revision of its source; rebuild it "
            f"(pip install -e .). {meanwhile}",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return module
