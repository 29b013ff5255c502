"""The differential oracle in the suite (CI-sized): for generated and mutated files, every global that
pickle, torch, NumPy or joblib resolves is among the scanner's imports, and every one not allowlisted is a
finding. ``bench/fuzz_differential.py`` runs the same check for as long as it is given."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.oracle_settings import oracle_settings
from tests.scanners.differential import check, generate
from tests.scanners.oracle import Oracle
from tests.scanners.soundness import CASES

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    worker = Oracle(SRC)
    yield worker
    worker.close()


@oracle_settings(examples=120)
@given(rng=st.randoms(use_true_random=False))
def test_scanner_sees_what_the_loaders_resolve(rng: random.Random, oracle: Oracle) -> None:
    name, data = generate(rng)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        assert check(path, oracle.resolved(path)) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_known_cases_hold_the_invariant(name: str, tmp_path: Path, oracle: Oracle) -> None:
    path = tmp_path / name
    path.write_bytes(CASES[name]())
    assert check(path, oracle.resolved(path)) == []
