"""The differential oracle in the suite (CI-sized): for generated and mutated files, every global that
pickle, torch, NumPy or joblib resolves is among the scanner's imports, and every one not allowlisted is a
finding. ``bench/fuzz_differential.py`` runs the same check for as long as it is given."""

from __future__ import annotations

import pickle
import random
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelseal.api import scan
from modelseal.core.config import Config
from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext
from modelseal.scanners.pickle import machine
from modelseal.scanners.pickle.allowlist import default_allowlist
from modelseal.scanners.pickle.opcodes import Op
from modelseal.scanners.registry import dispatch
from tests.oracle_settings import oracle_settings
from tests.scanners.differential import check, generate
from tests.scanners.malicious import BUILDERS as MALICIOUS
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


_READ_AHEAD = ("MS-LIMIT-EXCEEDED", "MS-PICKLE-TRAILING-DATA")
"""Findings placed where reading stood, which is where a batch of opcodes ended in the reference."""


def _outcome(path: Path, config: Config) -> list[tuple[str, str, str, str]]:
    """The findings of one scan, comparable across the two loops. A limit is checked every batch of
    opcodes and the two loops batch differently, so the place of :data:`_READ_AHEAD` findings may differ;
    their words may not.
    Object addresses in quoted error messages (``<ast.Attribute object at 0x…>``) differ run to run."""
    result = scan([path], config, digests=False)
    return sorted(
        (
            f.rule_id,
            re.sub(r" at 0x[0-9a-f]+", "", f.message),
            f.severity.name,
            "" if f.rule_id in _READ_AHEAD else repr(f.location),
        )
        for f in result.findings
    )


_TIGHT = Config(limits=Limits(max_pickle_memo=4, max_pickle_memo_bytes=600, max_inline_bytes=64))
"""Limits the common opcodes meet (the memo's are exact in both loops; the stack's total is checked per
batch, so its finding may come opcodes apart)."""


def _same_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for config in (Config(), _TIGHT):
        fast = _outcome(path, config)
        with monkeypatch.context() as patch:
            patch.setattr(machine, "FAST", False)
            reference = _outcome(path, config)
        assert fast == reference, config.limits


@settings(oracle_settings(examples=150), suppress_health_check=list(HealthCheck))  # monkeypatch: per call
@given(rng=st.randoms(use_true_random=False))
def test_fast_loop_agrees_with_the_reference(rng: random.Random, monkeypatch: pytest.MonkeyPatch) -> None:
    name, data = generate(rng)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        _same_both_ways(path, monkeypatch)


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_fast_loop_agrees_on_hostile_pickles(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _same_both_ways(MALICIOUS[name](tmp_path), monkeypatch)


def test_fast_loop_runs_the_common_opcodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast loop is in use (not falling back at once): the reference then meets few opcodes."""
    data = pickle.dumps({f"k{i}": (i, f"v{i}", [i, None, True]) for i in range(2000)}, protocol=4)
    seen: list[int] = []
    steps = machine.Machine._steps

    def counting(self: machine.Machine, batches: Iterable[list[Op]], deadline: float) -> object:
        listed = [list(b) for b in batches]
        seen.append(sum(len(b) for b in listed))
        return steps(self, iter(listed), deadline)

    monkeypatch.setattr(machine.Machine, "_steps", counting)
    ctx = ScanContext(Limits(), dispatch)
    report = machine.Machine(ByteSource.from_bytes(data), ctx, default_allowlist()).run()
    assert report.complete and report.findings == []
    assert sum(seen) < 10 < report.end_offset
