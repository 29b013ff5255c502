"""Random and mutated streams: the reader and the machine never raise and stay bounded."""

from __future__ import annotations

import contextlib
import pickle
import pickletools
import tracemalloc
from collections import OrderedDict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelseal.core.errors import Truncated
from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput
from modelseal.scanners.pickle.opcodes import MalformedPickle, OpcodeReader
from modelseal.scanners.registry import dispatch

SEEDS = [
    pickle.dumps(
        OrderedDict(a=[1, 2.5, "x", 10**30, -5, 70000], b=(b"\x00" * 40, None, True, "é" * 3)), protocol=p
    )
    for p in range(6)
] + [pickle.dumps({"s": {1, 2}, "f": frozenset([3])}, protocol=4)]
CTX = ScanContext(Limits(max_seconds_per_file=5), dispatch)


def run(data: bytes) -> None:
    dispatch(ScanInput(ByteSource.from_bytes(data), "fuzz", len(data)), CTX)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    run(data)
    run(b"\x80\x04" + data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    st.integers(0, 10_000),
)
def test_mutated_pickles(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    run(_mutate(seed, flips, cut))


def _mutate(seed: bytes, flips: list[tuple[int, int]], cut: int) -> bytes:
    data = bytearray(seed)
    for pos, value in flips:
        data[pos % len(data)] = value
    return bytes(data[: max(1, cut % (len(data) + 1))])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    st.integers(0, 10_000),
)
def test_reader_agrees_with_pickletools(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    """Differential: the in-place reader decodes the same opcodes at the same offsets as the standard
    library's ``pickletools.genops`` for as long as both read, and the machine never fails internally."""
    data = _mutate(seed, flips, cut)
    ours: list[tuple[str, int]] = []
    with contextlib.suppress(MalformedPickle, Truncated):
        for op in OpcodeReader(ByteSource.from_bytes(data), max_line=1 << 16, max_inline=1 << 20):
            ours.append((op.name, op.offset))
    theirs: list[tuple[str, int | None]] = []
    with contextlib.suppress(Exception):  # genops raises ValueError and others on damage
        for info, _, offset in pickletools.genops(data):
            theirs.append((info.name, offset))
            if info.name == "STOP":
                break
    common = min(len(ours), len(theirs))
    assert ours[:common] == theirs[:common]
    outcome = dispatch(ScanInput(ByteSource.from_bytes(data), "fuzz", len(data)), CTX)
    assert "MS-SCANNER-ERROR" not in {f.rule_id for f in outcome.findings}


def test_memory_stays_bounded_on_mutations() -> None:
    big = pickle.dumps([b"x" * 1000] * 5000 + [list(range(1000))], protocol=4)
    tracemalloc.start()
    for i in range(0, len(big), len(big) // 50):
        mutated = big[:i] + bytes([big[i] ^ 0xFF]) + big[i + 1 :]
        run(mutated)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 << 20
