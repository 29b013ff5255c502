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


def _type_code(dtype: Call) -> re.Match[str] | None:
    """The parsed type code (``<f8``, ``O8``, ``V12``) a ``numpy.dtype(code, align, copy)`` call is given."""
    code = dtype.args.items[0] if isinstance(dtype.args, Seq) and dtype.args.items else None
    return _CODE.match(code) if isinstance(code, str) else None


def _dtype_size(dtype: Any, depth: int = 0) -> tuple[int, bool] | None:
    """(itemsize, has_object) of a symbolic ``numpy.dtype(code, align, copy)`` call with its BUILD state."""
    if depth > 8 or not isinstance(dtype, Call) or not isinstance(dtype.callee, Global):
        return None
    m = _type_code(dtype) if dtype.callee.name == "dtype" else None
    if not m:
        return None
    code, kind, digits = m.group(0), m.group(1), m.group(2)
    state = dtype.state.items if isinstance(dtype.state, Seq) else []
    if kind == "V":
        subarray = (
            _subarray_size(state[2], depth + 1) if len(state) > 2 and state[2] is not None else (0, False)
        )
        if subarray is None:
            return None
        has_object = subarray[1]
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
    count = element_count(shape)
    if sized is None or count is None or count * sized[0] > MAX_NBYTES:
        return None
    return count * sized[0], sized[1]


def element_count(shape: Any) -> int | None:
    """The elements of an array of ``shape`` (a tuple of sizes, or one size), or None when unknown."""
    dims = [shape] if _int(shape) else shape.items if isinstance(shape, Seq) and not shape.dropped else None
    if dims is None:
        return None
    count = 1
    for dim in dims:
        if not _int(dim) or dim < 0:
            return None
        count *= dim
        if count > MAX_NBYTES:
            return None
    return count


# The kind of dtype each ``numpy.dtypes`` class makes (facts from numpy/dtypes.pyi); StringDType is absent
# on purpose: its instances keep their state elsewhere and no pickle of one goes through BUILD.
_CLASS_KINDS = {
    "BoolDType": "?",
    "ObjectDType": "O",
    "BytesDType": "S",
    "StrDType": "U",
    "VoidDType": "V",
    "DateTime64DType": "M",
    "TimeDelta64DType": "m",
    **dict.fromkeys(("ByteDType", "Int8DType", "ShortDType", "Int16DType", "IntDType", "Int32DType"), "i"),
    **dict.fromkeys(("LongDType", "Int64DType", "LongLongDType"), "i"),
    **dict.fromkeys(("UByteDType", "UInt8DType", "UShortDType", "UInt16DType", "UIntDType"), "u"),
    **dict.fromkeys(("UInt32DType", "ULongDType", "UInt64DType", "ULongLongDType"), "u"),
    **dict.fromkeys(("Float16DType", "Float32DType", "Float64DType", "LongDoubleDType"), "f"),
    **dict.fromkeys(("Complex64DType", "Complex128DType", "CLongDoubleDType"), "c"),
}
# dtype flags (numpy/ndarraytypes.h): what an object dtype must carry, and what no other dtype may.
_OBJECT_FLAGS = 0x01 | 0x02 | 0x08 | 0x10  # ITEM_REFCOUNT, LIST_PICKLE, NEEDS_INIT, NEEDS_PYAPI
_OBJECT_ONLY_FLAGS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # ... ITEM_IS_POINTER, USE_GETITEM, USE_SETITEM


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def dtype_kind(dtype: Call) -> str | None:
    """The one-letter kind of the dtype a ``numpy.dtype(code, ...)`` or ``numpy.dtypes.<X>DType()`` call
    makes, or None when it cannot be told."""
    callee = dtype.callee
    if not isinstance(callee, Global):
        return None
    if callee.module == "numpy.dtypes":
        return _CLASS_KINDS.get(callee.name)
    m = _type_code(dtype)
    return m.group(1) if m else None


def dtype_state_problem(dtype: Call) -> str | None:
    """Why the BUILD state of a dtype is not one NumPy writes, or None when it is.

    ``dtype.__setstate__`` trusts its tuple: flags that mark plain bytes as object pointers, field offsets
    or a subarray beyond the item, an alignment of zero or a short tuple make the loader read or write
    memory it does not own. Only the shapes NumPy itself writes are accepted (an allowlist of states)."""
    kind = dtype_kind(dtype)
    state = dtype.state
    if kind is None:
        return "a dtype whose type cannot be told is given a state"
    form = (len(state.items), state.items[0]) if isinstance(state, Seq) and state.items else None
    if form not in ((8, 3), (9, 4)) or state.dropped:
        return "the state is not NumPy's 8-item (version 3) or 9-item (version 4) tuple"
    endian, subarray, names, fields, elsize, alignment, flags = state.items[1:8]
    if endian not in ("<", ">", "|", "="):
        return f"byte order {endian!r} is not one NumPy writes"
    if not (_int(elsize) and _int(alignment) and _int(flags)):
        return "item size, alignment and flags must be integers"
    if kind in "SUV":
        if elsize < 0 or (kind == "U" and elsize % 4):
            return f"item size {elsize} does not fit a {kind} dtype"
        if alignment not in (1, 2, 4, 8, 16, 32, 64):
            return f"alignment {alignment} is not a power of two"
    if -128 <= flags < 0:  # NumPy once stored the flags as a signed char
        flags += 256
    if not 0 <= flags <= 0xFF:
        return f"flags {flags} are out of range"
    if kind != "V" and (subarray is not None or names is not None or fields is not None):
        return "fields or a subarray on a dtype that is not a void (record) type"
    has_object = kind == "O"
    if subarray is not None:
        sub = _subarray_size(subarray)
        if sub is None or sub[0] > elsize:
            return "the subarray does not fit in the item"
        has_object = has_object or sub[1]
    if names is not None or fields is not None:
        record = _fields_size(names, fields, elsize)
        if isinstance(record, str):
            return record
        has_object = has_object or record
    if has_object and flags & _OBJECT_FLAGS != _OBJECT_FLAGS:
        return f"flags {flags:#x} treat the object pointers of this dtype as plain bytes"
    if not has_object and flags & _OBJECT_ONLY_FLAGS:
        return f"flags {flags:#x} make NumPy read the plain bytes of this dtype as object pointers"
    return None


def _subarray_size(subarray: Any, depth: int = 0) -> tuple[int, bool] | None:
    """(bytes, has_object) of a ``(base dtype, shape)`` subarray state."""
    if not isinstance(subarray, Seq) or len(subarray.items) != 2:
        return None
    base, shape = subarray.items
    sized = _dtype_size(base, depth)
    count = element_count(shape)
    if sized is None or count is None or count * sized[0] > MAX_NBYTES:
        return None
    return count * sized[0], sized[1]


def _fields_size(names: Any, fields: Any, elsize: int) -> str | bool:
    """Whether the fields hold objects, or why they do not describe a record NumPy could have written."""
    if not (isinstance(names, Seq) and isinstance(fields, Dict)) or names.dropped or fields.dropped:
        return "names and fields are missing, inconsistent or too many to check"
    if not names.items or not all(isinstance(n, str) for n in names.items):
        return "field names must be strings"
    specs = dict(fields.items) if all(isinstance(k, str) for k, _ in fields.items) else None
    if specs is None or not set(names.items) <= set(specs):
        return "the fields do not match the names"
    titles = set()
    has_object = False
    for name in names.items:
        spec = specs[name]
        items = spec.items if isinstance(spec, Seq) else []
        if len(items) not in (2, 3) or not _int(items[1]) or items[1] < 0:
            return f"field {name!r} is not a (dtype, offset[, title]) tuple"
        sized = _dtype_size(items[0])
        if sized is None or items[1] + sized[0] > elsize:
            return f"field {name!r} does not fit in the item"
        has_object = has_object or sized[1]
        if len(items) == 3:
            titles.add(items[2])
    if not set(specs) <= set(names.items) | titles:
        return "the fields name more than the record holds"
    return has_object


# Where ``ndarray.__setstate__`` finds the shape, dtype and data in each state it accepts: NumPy's own
# ``(version, shape, dtype, is_fortran, data)``, the legacy one without a version, and MaskedArray's, which
# adds the mask and the fill value.
_ARRAY_STATE_LAYOUTS = {4: (0, 1, 3), 5: (1, 2, 4), 7: (1, 2, 4)}


def array_state_problem(state: Any) -> str | None:
    """Why an array's BUILD state would make NumPy read past its list of objects, or None.

    ``ndarray.__setstate__`` fills an object array from a list without checking the list's length, and a
    list shorter than the array hands it pointers from beyond the list's end (every loader crashes; a
    shaped heap is worse). Bytes are checked against the array's size by NumPy itself."""
    items = state.items if isinstance(state, Seq) else []
    layout = _ARRAY_STATE_LAYOUTS.get(len(items))
    if layout is None:
        return None  # NumPy refuses any other state with an exception
    shape, dtype, data = (items[i] for i in layout)
    if not (isinstance(data, Seq) and data.kind == "list"):
        return None
    sized = _dtype_size(dtype)
    if sized is None:
        return "an array of a dtype that cannot be told is filled from a list"
    count = element_count(shape)
    given = len(data.items) + data.dropped
    if sized[1] and (count is None or given < count):
        elements = "an unknown number of" if count is None else str(count)
        return f"an object array of {elements} elements gets a list of {given}"
    return None
