"""The pickle memo (a list for the indices picklers use, a dict for any other) behaves as the dict the
loaders use, and both opcode loops agree on pickles that store entries out of order."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.scanners.pickle.values import Memo
from tests.scanners.test_differential import _same_both_ways


@pytest.mark.parametrize("seed", range(20))
def test_memo_behaves_as_a_dict(seed: int) -> None:
    rng = random.Random(seed)
    memo, model = Memo(), dict[int, int]()
    for step in range(400):
        index = len(model) if rng.random() < 0.4 else rng.randrange(-2, 40)
        if rng.random() < 0.6 and index >= 0:
            memo[index] = model[index] = step
        for probe in range(-2, 42):
            assert (probe in memo) == (probe in model)
            if probe in model:
                assert memo[probe] == model[probe]
        assert len(memo) == len(model)
    assert all(i >= len(memo.dense) for i in memo.sparse)


# PROTO 4; "os" "system" STACK_GLOBAL stored at index 5 (out of order), MEMOIZE (index 1), then 0 and 1 over
# again by BINPUT; the callable comes back from index 5 and is called.
_OUT_OF_ORDER = (
    b"\x80\x04"
    b"\x8c\x02os\x8c\x06system\x93q\x05"  # the global at 5
    b"0"  # POP
    b"K\x07\x94"  # 7 memoised at len(memo) == 1
    b"0K\x08q\x00"  # 8 at 0
    b"0K\x09q\x01"  # 9 at 1, over the MEMOIZE entry
    b"0h\x05\x8c\x04echo\x85R"  # system("echo")
    b"h\x01h\x00\x86"  # (9, 8)
    b"\x86."
)


def test_out_of_order_memo_is_read_as_the_loaders_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "memo.pkl"
    path.write_bytes(_OUT_OF_ORDER)
    ids = {f.rule_id for f in scan([path], digests=False).findings}
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in ids
    assert "MS-PICKLE-MALFORMED" not in ids
    _same_both_ways(path, monkeypatch)


def test_a_get_past_the_stored_entries_is_malformed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hole.pkl"
    path.write_bytes(b"\x80\x04K\x01q\x00K\x02q\x020h\x01.")  # entries 0 and 2; GET 1
    ids = {f.rule_id for f in scan([path], digests=False).findings}
    assert "MS-PICKLE-MALFORMED" in ids
    _same_both_ways(path, monkeypatch)
