"""Every malicious technique is flagged high or critical, and none of it is ever executed."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.core.findings import Severity
from tests.scanners.malicious import BUILDERS


def test_corpus_is_large_enough() -> None:
    assert len(BUILDERS) >= 40


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_malicious_file_is_flagged(name: str, tmp_path: Path) -> None:
    path = BUILDERS[name](tmp_path)
    result = scan([path])
    worst = result.max_severity()
    details = [(f.rule_id, f.severity.label, f.message) for f in result.findings]
    assert worst is not None and worst >= Severity.HIGH, details
