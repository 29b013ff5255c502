"""Random and mutated streams: the reader and the machine never raise and stay bounded."""

from __future__ import annotations

import pickle
import tracemalloc
from collections import OrderedDict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput
from modelseal.scanners.registry import dispatch

SEEDS = [
    pickle.dumps(OrderedDict(a=[1, 2.5, "x"], b=(b"\x00" * 40, None, True)), protocol=p) for p in range(6)
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
    data = bytearray(seed)
    for pos, value in flips:
        data[pos % len(data)] = value
    run(bytes(data[: max(1, cut % (len(data) + 1))]))


def test_memory_stays_bounded_on_mutations() -> None:
    big = pickle.dumps([b"x" * 1000] * 5000 + [list(range(1000))], protocol=4)
    tracemalloc.start()
    for i in range(0, len(big), len(big) // 50):
        mutated = big[:i] + bytes([big[i] ^ 0xFF]) + big[i + 1 :]
        run(mutated)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 << 20
