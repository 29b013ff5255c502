"""Array sizes from symbolic NumPy dtypes, computed from the dtype's text code without importing NumPy.

joblib interleaves raw array bytes with its pickle; to step over them the scanner must know exactly how
many bytes each array occupies. Anything it cannot size exactly is reported as malformed (fail closed).
"""

from __future__ import annotations

import re
from typing import Any

from modelseal.scanners.pickle.values import Call, Dict, Global, Seq

_CODE = re.compile(r"^[<>|=]?([?bBiufcUSVMmO])(\d*)(?:\[\w+\])?$")
_DEFAULT = {"?": 1, "b": 1, "B": 1, "M": 8, "m": 8, "O": 8}
MAX_NBYTES = 1 << 62


def code_itemsize(code: str) -> tuple[int, bool] | None:
    """(itemsize, has_object) of a NumPy type code such as ``<f8``, ``U7``, ``|O`` or ``M8[ns]``; the one
    place both npy headers and joblib's pickled dtypes are sized."""
    m = _CODE.match(code)
    if not m:
        return None
    kind, digits = m.group(1), m.group(2)
    if kind == "O":
        return 8, True
    if digits:
        return int(digits) * (4 if kind == "U" else 1), False
    return (_DEFAULT[kind], False) if kind in _DEFAULT else None


def _dtype_size(dtype: Any, depth: int = 0) -> tuple[int, bool] | None:
    """(itemsize, has_object) of a symbolic ``numpy.dtype(code, align, copy)`` call with its BUILD state."""
    if depth > 8 or not isinstance(dtype, Call) or not isinstance(dtype.callee, Global):
        return None
    if dtype.callee.name != "dtype" or not isinstance(dtype.args, Seq) or not dtype.args.items:
        return None
    code = dtype.args.items[0]
    if not isinstance(code, str):
        return None
    m = _CODE.match(code)
    if not m:
        return None
    kind, digits = m.group(1), m.group(2)
    state = dtype.state.items if isinstance(dtype.state, Seq) else []
    if kind == "V":
        has_object = False
        fields = state[4] if len(state) > 4 else None
        if isinstance(fields, Dict):
            for _, spec in fields.items:
                inner = spec.items[0] if isinstance(spec, Seq) and spec.items else None
                sized = _dtype_size(inner, depth + 1)
                if sized is None:
                    return None
                has_object = has_object or sized[1]
        elsize = state[5] if len(state) > 5 else None
        if isinstance(elsize, int) and elsize >= 0:
            return elsize, has_object
        return (int(digits), has_object) if digits else None
    return code_itemsize(code)


def array_nbytes(shape: Any, dtype: Any) -> tuple[int, bool] | None:
    """(total bytes, has_object) of an array, or None when it cannot be determined exactly."""
    sized = _dtype_size(dtype)
    if sized is None or not isinstance(shape, Seq) or shape.dropped:
        return None
    itemsize, has_object = sized
    count = 1
    for dim in shape.items:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 0:
            return None
        count *= dim
        if count * itemsize > MAX_NBYTES:
            return None
    return count * itemsize, has_object
