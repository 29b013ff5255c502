"""Loading of the shipped, dated data files, kept out of the modules that judge with them."""

from __future__ import annotations

from importlib import resources
from typing import Any

from modelseal.core import toml


def load_toml(name: str) -> dict[str, Any]:
    """A data file shipped in ``modelseal/provenance/data``."""
    return toml.loads((resources.files("modelseal.provenance") / "data" / name).read_text("utf-8"))
