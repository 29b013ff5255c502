"""NumPy's ``dtype.__setstate__`` and ``ndarray.__setstate__`` believe the tuples a pickle gives them: a state
NumPy never writes makes the loaders read plain bytes as object pointers, read pointers past a list's end or
write past an array's memory. The scanner accepts the states NumPy writes and flags every other (found by the
differential fuzz: seeds 289317 and 658862 crashed every loader while the scan passed)."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from modelseal.api import scan
from tests.scanners.differential import generate, scanned

RULE = "MS-PICKLE-UNSAFE-STATE"


class _Forged:
    """Pickles as ``factory(*args)`` followed by BUILD with ``state``, as a hostile file would."""

    def __init__(self, factory: Any, args: tuple[Any, ...], state: Any) -> None:
        self.factory, self.args, self.state = factory, args, state

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.factory, self.args, self.state)


def _rules(tmp_path: Path, data: bytes, name: str = "x.pkl") -> set[str]:
    path = tmp_path / name
    path.write_bytes(data)
    return {f.rule_id for f in scan([path], digests=False).findings}


_REAL_DTYPES = [
    *(np.dtype(c) for c in "?bBhHiIlLqQefdgFDGOSUV"),
    np.dtype("U7"),
    np.dtype("S3"),
    np.dtype("V5"),
    np.dtype("M8[ns]"),
    np.dtype("m8[s]"),
    np.dtype(">f8"),
    np.dtype("f8", metadata={"unit": "m"}),
    np.dtype([("a", "<i4"), ("b", "O")]),
    np.dtype([("a", "<i4"), ("b", "f8")], align=True),
    np.dtype([("a", "<i4"), ("b", "f8")]),
    np.dtype(("f4", (2, 3))),
    np.dtype(("O", (2,))),
    np.dtype([(("title", "a"), "i4")]),
    np.dtype({"names": ["a"], "formats": ["i4"], "offsets": [4], "itemsize": 12}),
    np.dtype([("x", [("y", "O"), ("z", ("f4", (3,)))])]),
]


@pytest.mark.parametrize("dtype", _REAL_DTYPES, ids=lambda d: str(d))
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_states_numpy_writes_pass(tmp_path: Path, dtype: np.dtype[Any], protocol: int) -> None:
    array = np.zeros(3, dtype=dtype)
    assert RULE not in _rules(tmp_path, pickle.dumps(dtype, protocol=protocol))
    assert RULE not in _rules(tmp_path, pickle.dumps(array, protocol=protocol))


def test_joblib_files_of_every_dtype_pass(tmp_path: Path) -> None:
    for i, dtype in enumerate(_REAL_DTYPES):
        if dtype.itemsize == 0:
            continue  # joblib cannot write arrays of empty items
        path = tmp_path / f"{i}.joblib"
        joblib.dump({"w": np.zeros(4, dtype=dtype)}, path)
        assert RULE not in {f.rule_id for f in scan([path], digests=False).findings}, dtype


_I4 = np.dtype("i4")
_HOSTILE = {
    # every loader dies on these three (checked below)
    "six-item tuple": ("f8", (3, "|", None, -1, -1, 0)),
    "empty tuple": ("f8", ()),
    "a dict": ("f8", {"a": 1}),
    "object dtype without object flags": ("O8", (3, "|", None, None, None, -1, -1, 0)),
    "names disagree with fields": ("V8", (3, "|", None, ("b",), {"a": (_I4, 0)}, 8, 1, 16)),
    # memory corruption that may not crash
    "plain bytes flagged as objects": ("f8", (3, "<", None, None, None, -1, -1, 1)),
    "field past the item": ("V8", (3, "|", None, ("a",), {"a": (_I4, 100)}, 8, 1, 16)),
    "subarray past the item": ("V8", (3, "|", (np.dtype("f4"), (100,)), None, None, 8, 4, 0)),
    "alignment zero": ("V8", (3, "|", None, None, None, 8, 0, 0)),
    "str item of 3 bytes": ("U7", (3, "<", None, None, None, 3, 4, 8)),
    "fields on a float": ("f8", (3, "<", None, ("a",), {"a": (_I4, 0)}, 8, 1, 16)),
    "unknown byte order": ("f8", (3, "x", None, None, None, -1, -1, 0)),
    "negative size": ("S3", (3, "|", None, None, None, -5, 1, 0)),
    "a field that is not a dtype": ("V8", (3, "|", None, ("a",), {"a": (1, 0)}, 8, 1, 16)),
    "an extra field no title names": (
        "V8",
        (3, "|", None, ("a",), {"a": (_I4, 0), "z": (_I4, 4)}, 8, 1, 16),
    ),
}
_CRASHING = ("six-item tuple", "object dtype without object flags", "names disagree with fields")


def _forged(code: str, state: Any) -> bytes:
    return pickle.dumps(_Forged(np.dtype, (code, False, True), state), protocol=2)


@pytest.mark.parametrize("case", sorted(_HOSTILE))
def test_states_numpy_never_writes_are_flagged(tmp_path: Path, case: str) -> None:
    code, state = _HOSTILE[case]
    assert RULE in _rules(tmp_path, _forged(code, state))
    array = _Forged(np.dtype, (code, False, True), state)  # inside an array's reconstruction
    wrapped = pickle.dumps({"w": [array]}, protocol=4)
    assert RULE in _rules(tmp_path, wrapped)


@pytest.mark.parametrize("case", _CRASHING)
def test_the_loader_really_dies_on_them(tmp_path: Path, case: str) -> None:
    """The fixtures are real: pickle.load of each ends the process with a signal."""
    path = tmp_path / "x.pkl"
    path.write_bytes(_forged(*_HOSTILE[case]))
    child = [sys.executable, "-c", "import pickle,sys,numpy as np; d=pickle.load(open(sys.argv[1],'rb'));"]
    child[-1] += " a=np.empty(4,dtype=d); a[:]=a.copy(); print(a)"
    done = subprocess.run([*child, str(path)], capture_output=True, timeout=60)
    assert done.returncode < 0, done


def test_the_dtype_classes_are_checked_too(tmp_path: Path) -> None:
    hostile = _Forged(np.dtypes.ObjectDType, (), (3, "|", None, None, None, -1, -1, 0))
    assert RULE in _rules(tmp_path, pickle.dumps(hostile, protocol=2))
    plain = _Forged(np.dtypes.Float64DType, (), (3, "<", None, None, None, -1, -1, 0))
    assert RULE not in _rules(tmp_path, pickle.dumps(plain, protocol=2))


def test_a_signed_char_of_flags_from_old_numpy_passes(tmp_path: Path) -> None:
    state = (3, "|", None, ("a", "b"), {"a": (_I4, 0), "b": (np.dtype("f8"), 8)}, 16, 8, 144 - 256)
    assert RULE not in _rules(tmp_path, _forged("V16", state))


@pytest.mark.parametrize("seed", [289317, 658862])
def test_the_fuzz_seeds_that_crashed_every_loader_now_fail(tmp_path: Path, seed: int) -> None:
    name, data = generate(random.Random(seed))
    path = tmp_path / name
    path.write_bytes(data)
    seen = scanned(path)
    assert seen.blocks and "NumPy never writes" in seen.named


_OBJECT_ARRAYS = [
    np.array([1, "x", None], dtype=object),
    np.array([[1, 2], [3, None]], dtype=object),
    np.asfortranarray(np.array([[1, 2], [3, None]], dtype=object)),
    np.array(None, dtype=object),  # 0-d: one element
    np.empty(0, dtype=object),
    np.array([(1, 2)], dtype=[("a", "O"), ("b", "i4")]),
    np.ma.masked_array(np.array([1, None, "x"], dtype=object), mask=[False, True, False]),
    np.asmatrix(np.array([[1, None]], dtype=object)),
]


@pytest.mark.parametrize("array", _OBJECT_ARRAYS, ids=lambda a: f"{type(a).__name__}-{a.dtype}-{a.shape}")
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_object_arrays_numpy_writes_pass(tmp_path: Path, array: Any, protocol: int) -> None:
    assert RULE not in _rules(tmp_path, pickle.dumps(array, protocol=protocol))


_RECONSTRUCT = (np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"))
_MASKED = (np.ma.core._mareconstruct, (np.ma.MaskedArray, np.ndarray, (0,), b"b"))
_O = np.dtype("O")
_SHORT_LISTS = {
    "array of 4 from a list of 2": (*_RECONSTRUCT, (1, (4,), _O, False, [1, 2])),
    "legacy state without a version": (*_RECONSTRUCT, ((4,), _O, False, [1])),
    "0-d from an empty list": (*_RECONSTRUCT, (1, (), _O, False, [])),
    "records with objects": (*_RECONSTRUCT, (1, (4,), np.dtype([("a", "O"), ("b", "i4")]), False, [(1, 2)])),
    "masked array": (*_MASKED, (1, (4,), _O, False, [1], b"\x00" * 4, None)),
}


@pytest.mark.parametrize("case", sorted(_SHORT_LISTS))
def test_object_arrays_from_short_lists_are_flagged(tmp_path: Path, case: str) -> None:
    factory, args, state = _SHORT_LISTS[case]
    assert RULE in _rules(tmp_path, pickle.dumps(_Forged(factory, args, state), protocol=2))


def test_a_longer_list_is_harmless_and_passes(tmp_path: Path) -> None:
    factory, args = _RECONSTRUCT
    longer = _Forged(factory, args, (1, (2,), _O, False, [1, 2, 3, 4]))
    assert RULE not in _rules(tmp_path, pickle.dumps(longer, protocol=2))


def test_the_loader_really_reads_past_a_short_list(tmp_path: Path) -> None:
    """NumPy loads an array of 4 from a list of 2 without complaint: its last two elements are whatever lies
    past the list's end (here, often the state's other items), or the process dies."""
    path = tmp_path / "x.pkl"
    factory, args, state = _SHORT_LISTS["array of 4 from a list of 2"]
    path.write_bytes(pickle.dumps(_Forged(factory, args, state), protocol=2))
    code = "import pickle,sys; a=pickle.load(open(sys.argv[1],'rb')); print('loaded', a.size)"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=60)
    assert done.returncode < 0 or done.stdout.strip() == b"loaded 4", done
