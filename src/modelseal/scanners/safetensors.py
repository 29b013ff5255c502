"""safetensors: the only code-free weight format, as long as its header is exactly what readers expect.

The header is validated in full, because readers that tolerate different mistakes (overlapping ranges,
gaps, trailing bytes) see different tensors in the same file. The parsed header is shared with the
weight-statistics scanner so the file is described once.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from modelseal.core.errors import Truncated
from modelseal.core.findings import Finding, Location
from modelseal.core.limits import Limits
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome

# Bits per element of every dtype the safetensors specification defines.
DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}
MAX_TENSORS = 1_000_000


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    """Offset of the first byte, relative to the start of the data section."""
    end: int


@dataclass(frozen=True)
class Header:
    tensors: tuple[TensorEntry, ...]
    data_start: int
    """Absolute offset of the data section (8 + header length)."""
    metadata: dict[str, str]


class _Bad(Exception):
    """One reason the header is malformed; becomes a finding."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Bad(f"key {key[:80]!r} appears twice in the header")
        out[key] = value
    return out


def _entry(name: str, spec: Any) -> TensorEntry:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise _Bad(f"tensor {name[:80]!r} must have exactly dtype, shape and data_offsets")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if dtype not in DTYPE_BITS:
        raise _Bad(f"tensor {name[:80]!r} has unknown dtype {str(dtype)[:40]!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise _Bad(f"tensor {name[:80]!r} has an invalid shape {str(shape)[:80]}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise _Bad(f"tensor {name[:80]!r} has invalid data_offsets {str(offsets)[:80]}")
    count = 1
    for dim in shape:
        count *= dim
    nbits = count * DTYPE_BITS[dtype]
    if nbits % 8 or nbits // 8 != offsets[1] - offsets[0]:
        raise _Bad(
            f"tensor {name[:80]!r}: shape {shape} of {dtype} needs {nbits / 8:g} bytes, "
            f"data_offsets span {offsets[1] - offsets[0]}"
        )
    return TensorEntry(name, dtype, tuple(shape), offsets[0], offsets[1])


def _check_layout(tensors: list[TensorEntry], data_size: int | None) -> None:
    cursor = 0
    for t in sorted(tensors, key=lambda t: (t.begin, t.end)):
        if t.begin < cursor:
            raise _Bad(
                f"tensor {t.name[:80]!r} [{t.begin}, {t.end}) overlaps the previous tensor (ends {cursor})"
            )
        if t.begin > cursor:
            raise _Bad(f"bytes [{cursor}, {t.begin}) before tensor {t.name[:80]!r} belong to no tensor")
        cursor = t.end
    if data_size is not None:
        if cursor > data_size:
            raise _Bad(
                f"tensors end at data offset {cursor}, past the end of the file ({data_size} data bytes)"
            )
        if cursor < data_size:
            raise _Bad(f"{data_size - cursor} trailing bytes after the last tensor belong to no tensor")


def parse_header(src: ByteSource, size: int | None, limits: Limits) -> Header:
    """Parse and validate a header from the start of ``src``; raises ``ValueError`` with the reason."""
    try:
        (n,) = struct.unpack("<Q", src.read(8))
        if n > limits.max_header_bytes:
            raise _Bad(f"header of {n} bytes is over the limit of {limits.max_header_bytes}")
        if size is not None and n + 8 > size:
            raise _Bad(f"header claims {n} bytes but the file has {size}")
        raw = src.read(n)
    except Truncated as exc:
        raise ValueError(f"header is cut off: {exc}") from None
    except _Bad as exc:
        raise ValueError(str(exc)) from None
    try:
        text = raw.decode("utf-8")
        if not text.startswith("{"):
            raise _Bad("header does not start with '{'")
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
        if not isinstance(doc, dict):
            raise _Bad("header is not a JSON object")
        metadata = doc.pop("__metadata__", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise _Bad("__metadata__ must map strings to strings")
        if len(doc) > MAX_TENSORS:
            raise _Bad(f"{len(doc)} tensors is over the limit of {MAX_TENSORS}")
        tensors = [_entry(name, spec) for name, spec in doc.items()]
        data_size = None if size is None else size - 8 - n
        _check_layout(tensors, data_size)
    except (_Bad, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(str(exc)) from None
    return Header(tuple(tensors), 8 + n, metadata)


class SafetensorsScanner(Scanner):
    format = "safetensors"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        try:
            header = parse_header(item.source, item.size, ctx.limits)
            if item.size is None:
                # A stream: count its bytes so that short files and trailing data are still caught.
                _check_layout(list(header.tensors), item.source.drain())
        except (ValueError, _Bad) as exc:
            return ScanOutcome(self.format, (_malformed(str(exc)),))
        return ScanOutcome(self.format)


def _malformed(why: str) -> Finding:
    return make_finding(
        "MS-SAFETENSORS-MALFORMED",
        f"safetensors header is invalid: {why}",
        location=Location(offset=0),
        evidence=why[:300],
    )
