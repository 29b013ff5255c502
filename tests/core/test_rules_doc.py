"""docs/rules.md lists exactly the catalogue, and every rule is well-formed."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from modelseal.core.catalogue import RULES

ROOT = Path(__file__).resolve().parents[2]


def test_rules_doc_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_rules_doc", ROOT / "tools" / "gen_rules_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == module.render(), (
        "run: python tools/gen_rules_doc.py"
    )


def test_rule_ids_are_well_formed() -> None:
    for rule_id, rule in RULES.items():
        assert rule_id == rule.id
        assert re.fullmatch(r"MS(-[A-Z0-9]+)+", rule_id)
        assert rule.title and rule.description and rule.remediation
