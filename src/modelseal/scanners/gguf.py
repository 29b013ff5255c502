"""GGUF (llama.cpp) files: a bounded parser of the header, metadata and tensor table, and the chat template.

Every count and length is checked against what is left of the file before anything is read, so a header
that declares a billion strings costs nothing. The chat template is a Jinja program that many runtimes
render, so it gets the template-injection analysis of :mod:`.jinja_template`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from modelseal.core.errors import Truncated
from modelseal.core.findings import Finding, Location
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.jinja_template import template_findings

MAGIC = b"GGUF"
# Value types: fixed sizes as struct codes; 8 is a string, 9 an array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9
# ggml tensor types: (elements per block, bytes per block), from the ggml specification.
GGML_BLOCKS = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 40),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
    40: (64, 36),
    41: (128, 18),
}
MAX_DIMS = 4
MAX_KEY = 1 << 16
KEEP_STRING = 4 << 20
"""String values up to this size are kept (chat templates); longer ones are skipped."""
MAX_COUNT = 1 << 32


class GgufError(ValueError):
    """A structural violation; the message says what and where."""


@dataclass
class GgufInfo:
    version: int = 0
    metadata: dict[str, object] = field(default_factory=dict)
    """Scalar and kept string values; arrays are represented by their length."""
    tensors: list[tuple[str, tuple[int, ...], int, int, int]] = field(default_factory=list)
    """(name, dims, ggml type, offset, byte size)."""
    data_start: int = 0


class _Reader:
    def __init__(self, src: ByteSource, size: int | None) -> None:
        self.src = src
        self.size = size

    def left(self) -> int:
        return (1 << 62) if self.size is None else self.size - self.src.tell()

    def unpack(self, code: str) -> int | float | bool:
        fmt = struct.Struct("<" + code)
        return fmt.unpack(self.src.read(fmt.size))[0]  # type: ignore[no-any-return]

    def count(self, width: str, what: str, min_each: int) -> int:
        n = int(self.unpack(width))
        if n > MAX_COUNT or n * min_each > self.left():
            raise GgufError(
                f"{what} count {n} at offset {self.src.tell()} cannot fit in the {self.left()} bytes left"
            )
        return n

    def string(self, width: str, what: str, keep: int) -> str | None:
        n = self.count(width, f"{what} length", 1)
        if n > keep:
            self.src.skip(n)
            return None
        data = self.src.read(n)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GgufError(f"{what} at offset {self.src.tell() - n} is not UTF-8: {exc}") from None

    def value(self, vtype: int, width: str, key: str, depth: int = 0) -> object:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == STRING:
            return self.string(width, f"value of {key}", KEEP_STRING)
        if vtype == ARRAY and depth == 0:
            itype = int(self.unpack("I"))
            smallest = struct.calcsize("<" + _SCALARS[itype]) if itype in _SCALARS else 8
            n = self.count(width, f"array {key}", smallest)
            if itype in _SCALARS:
                self.src.skip(n * smallest)
                return n
            for _ in range(n):
                self.value(itype, width, key, depth + 1)
            return n
        raise GgufError(f"metadata {key!r} has an invalid value type {vtype}")


def parse_gguf(src: ByteSource, size: int | None) -> GgufInfo:
    """Parse everything but the tensor data; raises :class:`GgufError` on any violation."""
    r = _Reader(src, size)
    info = GgufInfo()
    try:
        if src.read(4) != MAGIC:
            raise GgufError("missing GGUF magic")
        info.version = int(r.unpack("I"))
        if info.version not in (1, 2, 3):
            raise GgufError(f"unknown GGUF version {info.version}")
        width = "I" if info.version == 1 else "Q"
        n_tensors = r.count(width, "tensor", 8)
        n_kv = r.count(width, "metadata", 12)
        for _ in range(n_kv):
            key = r.string(width, "metadata key", MAX_KEY)
            if key is None:
                raise GgufError(f"metadata key longer than {MAX_KEY} bytes")
            if key in info.metadata:
                raise GgufError(f"metadata key {key!r} appears twice")
            info.metadata[key] = r.value(int(r.unpack("I")), width, key)
        for _ in range(n_tensors):
            info.tensors.append(_tensor(r, width))
    except Truncated as exc:
        raise GgufError(f"file ends inside the header: {exc}") from None
    alignment = info.metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GgufError(f"general.alignment {alignment!r} is not a power of two")
    info.data_start = -(-src.tell() // alignment) * alignment
    _check_tensors(info, size, alignment)
    return info


def _tensor(r: _Reader, width: str) -> tuple[str, tuple[int, ...], int, int, int]:
    name = r.string(width, "tensor name", MAX_KEY)
    if name is None:
        raise GgufError("tensor name too long")
    n_dims = int(r.unpack("I"))
    if n_dims > MAX_DIMS:
        raise GgufError(f"tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
    dims = tuple(int(r.unpack(width)) for _ in range(n_dims))
    ttype = int(r.unpack("I"))
    offset = int(r.unpack("Q"))
    if ttype not in GGML_BLOCKS:
        raise GgufError(f"tensor {name!r} has unknown ggml type {ttype}")
    block, block_bytes = GGML_BLOCKS[ttype]
    count = 1
    for d in dims:
        count *= d
    if dims and dims[0] % block:
        raise GgufError(
            f"tensor {name!r}: first dimension {dims[0]} is not a multiple of the block size {block}"
        )
    return name, dims, ttype, offset, count // block * block_bytes


def _check_tensors(info: GgufInfo, size: int | None, alignment: int) -> None:
    end = 0
    names: set[str] = set()
    for name, _dims, _t, offset, nbytes in sorted(info.tensors, key=lambda t: t[3]):
        if name in names:
            raise GgufError(f"tensor {name!r} is declared twice")
        names.add(name)
        if offset % alignment:
            raise GgufError(f"tensor {name!r} offset {offset} is not aligned to {alignment}")
        if offset < end:
            raise GgufError(
                f"tensor {name!r} at data offset {offset} overlaps the previous tensor (ends {end})"
            )
        end = offset + nbytes
        if size is not None and info.data_start + end > size:
            raise GgufError(
                f"tensor {name!r} ends at byte {info.data_start + end}, past the end of the file "
                f"({size} bytes)"
            )


class GgufScanner(Scanner):
    format = "gguf"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        try:
            info = parse_gguf(item.source, item.size)
        except GgufError as exc:
            return ScanOutcome(
                self.format,
                (make_finding("MS-GGUF-MALFORMED", f"GGUF is malformed: {exc}", evidence=str(exc)[:300]),),
            )
        findings: list[Finding] = []
        for key, value in info.metadata.items():
            if key.startswith("tokenizer.chat_template") and isinstance(value, str):
                findings.extend(f.within(f"metadata {key}") for f in template_findings(value))
            elif key.startswith("tokenizer.chat_template") and value is None:
                findings.append(
                    make_finding(
                        "MS-LIMIT-EXCEEDED",
                        f"{key} is longer than {KEEP_STRING} bytes",
                        location=Location(f"metadata {key}"),
                    )
                )
        return ScanOutcome(self.format, tuple(findings))
