"""Formats recognised by their signature whose deep analysis lives in dedicated scanners, and plain text.

Until a dedicated scanner is registered for a format, it is reported at the severity its capabilities
warrant: a format that cannot carry code (safetensors) is informational, one that can (HDF5 Keras files
with Lambda layers) is not passed silently.
"""

from __future__ import annotations

from collections.abc import Callable

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


# safetensors, gguf and hdf5 have dedicated scanners (issue 3).
_SIGNATURES: list[tuple[str, Callable[[bytes], bool], Severity, str]] = []


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
