"""The gadget table the scanner loads (gadgets.json) is exactly the reviewed source (gadgets.toml)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from modelseal.core import toml
from modelseal.scanners.pickle.allowlist import _gadget_table

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "src" / "modelseal" / "scanners" / "pickle"


def test_gadgets_json_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_gadgets", ROOT / "tools" / "gen_gadgets.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (FOLDER / "gadgets.json").read_text(encoding="utf-8") == module.render(), (
        "gadgets.toml changed: run python tools/gen_gadgets.py"
    )


def test_the_scanner_reads_what_the_toml_says() -> None:
    assert _gadget_table() == toml.loads((FOLDER / "gadgets.toml").read_text(encoding="utf-8"))
