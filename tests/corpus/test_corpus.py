"""The benign corpus: files the ecosystem's libraries save, as their users save them, pass a default scan with
nothing at or above medium. Each case is built once per session by the real library (tiny configurations,
nothing downloaded)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.core.findings import Severity
from tests.corpus.build import BUILDERS, REQUIRES


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Built lazily, once per session: a case is built the first time a test asks for it."""
    return {}


def _built(corpus: dict[str, Path], name: str, factory: pytest.TempPathFactory) -> Path:
    if name not in corpus:
        corpus[name] = BUILDERS[name](factory.mktemp(name.replace(".", "_")))
    return corpus[name]


def test_corpus_covers_the_issue() -> None:
    assert len(BUILDERS) >= 20


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_benign_case_passes_at_defaults(
    name: str, corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    for module in REQUIRES[name]:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    path = _built(corpus, name, tmp_path_factory)
    result = scan([path], digests=None)
    assert result.file_count >= 1
    loud = [(f.file, f.rule_id, f.message) for f in result.findings if f.severity >= Severity.MEDIUM]
    assert not loud
