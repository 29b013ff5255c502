"""Benign files written by the real libraries are never flagged above low."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.core.findings import Severity
from tests.scanners.benign import BUILDERS

pytest.importorskip("torch")
pytest.importorskip("sklearn")


def test_corpus_is_large_enough() -> None:
    assert len(BUILDERS) >= 25


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_benign_file_is_not_flagged(name: str, tmp_path: Path) -> None:
    path = BUILDERS[name](tmp_path)
    result = scan([path])
    assert result.file_count >= 1
    loud = [
        (f.file, f.rule_id, f.severity.label, f.message) for f in result.findings if f.severity > Severity.LOW
    ]
    assert not loud
