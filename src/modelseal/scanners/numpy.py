"""NumPy ``.npy`` files: the header is parsed as a literal (never evaluated); object arrays hold a pickle."""

from __future__ import annotations

import ast
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelseal.core.errors import Truncated
from modelseal.core.findings import Finding, Severity
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.pickle.dtypes import code_itemsize
from modelseal.scanners.pickle.machine import INTENT_RULES
from modelseal.scanners.pickle.scanner import scan_pickle_stream


def _itemsize(descr: Any, depth: int = 0) -> tuple[int, bool] | None:
    """(itemsize, has_object) for an npy ``descr``: a type string or a list of structured fields."""
    if depth > 16:
        return None
    if isinstance(descr, str):
        return code_itemsize(descr)
    if isinstance(descr, list):
        total, has_object = 0, False
        for field in descr:
            if not isinstance(field, tuple) or len(field) not in (2, 3):
                return None
            inner = _itemsize(field[1], depth + 1)
            if inner is None:
                return None
            count = 1
            if len(field) == 3:
                shape = field[2] if isinstance(field[2], tuple) else (field[2],)
                for dim in shape:
                    if not isinstance(dim, int) or dim < 0:
                        return None
                    count *= dim
            total += inner[0] * count
            has_object = has_object or inner[1]
        return total, has_object
    return None


class NpyHeaderError(ValueError):
    """An npy header numpy would refuse, with the rule it breaks."""

    def __init__(self, rule: str, message: str, evidence: str = "") -> None:
        super().__init__(message)
        self.rule, self.evidence = rule, evidence


@dataclass(frozen=True)
class NpyHeader:
    fields: dict[str, Any]
    """The header literal (parsed, never evaluated): descr, shape and fortran_order at least."""
    text: str
    data_start: int


def read_npy_header(read: Callable[[int], bytes], max_header_bytes: int) -> NpyHeader:
    """The header of an npy file; ``read`` reads from the start of the file; a short read is a damaged
    header. Shared by the npy scanner and the weight statistics, so both read the same layout."""

    def take(n: int) -> bytes:
        raw = read(n)
        if len(raw) < n:
            raise NpyHeaderError("MS-NUMPY-MALFORMED", f"npy header is damaged: {len(raw)} of {n} bytes")
        return raw

    try:
        take(6)
        major, _minor = take(2)
        width = 2 if major == 1 else 4
        (hlen,) = struct.unpack("<H" if width == 2 else "<I", take(width))
        if hlen > max_header_bytes:
            raise NpyHeaderError("MS-LIMIT-EXCEEDED", f"npy header of {hlen} bytes")
        header_text = take(hlen).decode("latin-1" if major < 3 else "utf-8")
    except (Truncated, UnicodeDecodeError) as exc:
        raise NpyHeaderError("MS-NUMPY-MALFORMED", f"npy header is damaged: {exc}") from None
    try:
        header = ast.literal_eval(header_text)
    except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError) as exc:
        raise NpyHeaderError(
            "MS-NUMPY-MALFORMED", f"npy header is not a literal: {exc}", header_text[:200]
        ) from None
    if not isinstance(header, dict) or not {"descr", "shape", "fortran_order"} <= header.keys():
        raise NpyHeaderError(
            "MS-NUMPY-MALFORMED", "npy header lacks descr/shape/fortran_order", header_text[:200]
        )
    return NpyHeader(header, header_text, 6 + 2 + width + hlen)


class NumpyScanner(Scanner):
    format = "npy"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        src = item.source
        try:
            parsed = read_npy_header(src.read, ctx.limits.max_header_bytes)
        except NpyHeaderError as exc:
            return ScanOutcome("npy", (make_finding(exc.rule, str(exc), evidence=exc.evidence),))
        header, header_text = parsed.fields, parsed.text
        sized = _itemsize(header["descr"])
        shape = header["shape"]
        if (
            sized is None
            or not isinstance(shape, tuple)
            or not all(isinstance(d, int) and d >= 0 for d in shape)
        ):
            malformed = make_finding(
                "MS-NUMPY-MALFORMED", "npy dtype or shape cannot be understood", evidence=header_text[:200]
            )
            # numpy understands more type strings than this parser ('9O', '(2,)O', 'object'), and unpickles
            # the data of any with objects: read the data as the pickle it may be, keeping what it would run
            # (its parse errors are expected when the data is plain numbers).
            outcome = scan_pickle_stream(item, ctx)
            intent = tuple(f for f in outcome.findings if f.rule_id in INTENT_RULES)
            return ScanOutcome("npy", (malformed, *intent))
        itemsize, has_object = sized
        if has_object:
            outcome = scan_pickle_stream(item, ctx)
            note = make_finding("MS-NUMPY-OBJECT-ARRAY", "object array: loading it unpickles its content")
            return ScanOutcome("npy-object", (note, *outcome.findings))
        count = 1
        for dim in shape:
            count *= dim
        expected = count * itemsize
        findings: list[Finding] = []
        if item.size is not None:
            actual = item.size - src.tell()
            if actual != expected:
                findings.append(
                    make_finding(
                        "MS-NUMPY-MALFORMED",
                        f"data holds {actual} bytes, the header declares {expected}",
                        severity=Severity.MEDIUM,
                    )
                )
        return ScanOutcome("npy", tuple(findings))
