"""Helpers for the format tests: scan a path through the public API and look at what came back."""

from __future__ import annotations

from pathlib import Path

from modelseal.api import scan
from modelseal.core.findings import Finding, Severity


def findings(path: Path | str, *, weight_statistics: bool = True) -> list[Finding]:
    """The deep scan (weight statistics on), so that benign files are shown clean at the strictest setting."""
    return list(scan(str(path), digests=False, weight_statistics=weight_statistics).findings)


def worst(found: list[Finding]) -> Severity | None:
    return max((f.severity for f in found), default=None)


def assert_benign(path: Path | str) -> None:
    found = findings(path)
    loud = [f for f in found if f.severity > Severity.LOW]
    assert not loud, [(f.rule_id, f.severity.label, f.message) for f in loud]


def assert_flagged(path: Path | str, rule_id: str) -> list[Finding]:
    """At least one finding with ``rule_id`` at high or critical severity."""
    found = findings(path)
    hits = [f for f in found if f.rule_id == rule_id and f.severity >= Severity.HIGH]
    assert hits, [(f.rule_id, f.severity.label, f.message) for f in found]
    return hits


def pb_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb(number: int, value: int | bytes | str) -> bytes:
    """One protobuf field on the wire: an integer (varint) or a length-delimited payload."""
    if isinstance(value, int):
        return pb_varint(number << 3) + pb_varint(value)
    data = value.encode() if isinstance(value, str) else value
    return pb_varint(number << 3 | 2) + pb_varint(len(data)) + data
