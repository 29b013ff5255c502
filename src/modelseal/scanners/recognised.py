"""Formats recognised by their signature whose deep analysis lives in dedicated scanners, and plain text.

Until a dedicated scanner is registered for a format, it is reported at the severity its capabilities
warrant: a format that cannot carry code (safetensors) is informational, one that can (HDF5 Keras files
with Lambda layers) is not passed silently.
"""

from __future__ import annotations

import struct

from modelseal.core.findings import Severity
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ScanContext, ScanInput, ScanOutcome, Scanner


def looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return not head
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sniff window is still text.
        return exc.start >= len(head) - 3
    return True


def _safetensors(head: bytes) -> bool:
    return len(head) >= 9 and struct.unpack("<Q", head[:8])[0] < (100 << 20) and head[8:9] == b"{"


# (format, sniff, severity, what is missing)
_SIGNATURES = [
    ("safetensors", _safetensors, Severity.INFO, "header validation"),
    ("gguf", lambda h: h[:4] == b"GGUF", Severity.MEDIUM, "metadata and chat-template analysis"),
    ("hdf5", lambda h: h[:8] == b"\x89HDF\r\n\x1a\n", Severity.HIGH, "Keras layer analysis"),
]


class SignatureScanner(Scanner):
    """Recognised binary formats that have no dedicated scanner registered."""

    format = "recognised"

    def sniff(self, head: bytes, name: str) -> bool:
        return any(sniff(head) for _, sniff, _, _ in _SIGNATURES)

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        fmt, _, severity, missing = next(s for s in _SIGNATURES if s[1](item.head))
        return ScanOutcome(fmt, (make_finding(
            "MS-FORMAT-NOT-ANALYSED", f"{fmt} recognised; {missing} is not available in this installation",
            severity=severity),))


class TextScanner(Scanner):
    """Text cannot be loaded as code by model loaders; files that are code are analysed by repo scanners."""

    format = "text"

    def sniff(self, head: bytes, name: str) -> bool:
        return looks_like_text(head)

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        return ScanOutcome("text")
