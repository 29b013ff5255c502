"""Single-stream compression (gzip, bz2, xz, lzma, zlib, lz4): decompressed on the fly, never in full.

joblib writes these around its pickles; model hubs serve ``.gz`` checkpoints. The decompressed bytes
count against the file's budget, so a bomb stops at the limit instead of filling memory or disk.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Any

from modelseal.core.errors import DecompressionBomb, Truncated
from modelseal.core.rules import make_finding
from modelseal.core.streams import CHUNK, ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.signatures import compression


class _Decompressing:
    """RawReader over a decompressor object: bounded chunks in, bounded chunks out."""

    def __init__(
        self, src: ByteSource, decomp: Any, ctx: ScanContext, multi_member: Callable[[], Any] | None
    ):
        self._src = src
        self._d = decomp
        self._ctx = ctx
        self._new = multi_member
        self._compressed = 0
        self._produced = 0
        self._done = False

    def read(self, n: int) -> bytes:
        while not self._done:
            if self._d.eof:
                rest = self._d.unused_data
                if self._new is not None and (rest or not self._src.at_eof()):
                    self._d = self._new()
                    if rest:
                        out = self._d.decompress(rest, n)
                        if out:
                            return self._account(out)
                    continue
                self._done = True
                break
            if getattr(self._d, "needs_input", True):
                chunk = self._src.read_upto(CHUNK)
                if not chunk:
                    raise Truncated("compressed stream ends before its end marker")
                self._compressed += len(chunk)
                out = self._d.decompress(chunk, n)
            else:
                out = self._d.decompress(b"", n)
            if out:
                return self._account(out)
        return b""

    def _account(self, out: bytes) -> bytes:
        self._produced += len(out)
        limits = self._ctx.limits
        self._ctx.budget.add_decompressed(len(out), limits)
        if self._produced > limits.bomb_min_bytes and self._produced > limits.max_compression_ratio * max(
            self._compressed, 1
        ):
            raise DecompressionBomb(self._produced, self._compressed, limits.max_compression_ratio)
        return out

    def skip(self, n: int) -> int:
        done = 0
        while done < n:
            got = self.read(min(CHUNK * 16, n - done))
            if not got:
                break
            done += len(got)
        return done


class _ZlibAdapter:
    """zlib's decompressobj with the bz2/lzma interface (eof, needs_input, max_length)."""

    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._d.decompress(self._d.unconsumed_tail + data, max_length)
        self.needs_input = not self._d.unconsumed_tail
        return out


# kind (signatures.compression) -> (decompressor factory, concatenated members allowed)
_KINDS: dict[str, tuple[Callable[[], Any], bool]] = {
    "gzip": (lambda: _ZlibAdapter(31), True),
    "bz2": (bz2.BZ2Decompressor, True),
    "xz": (lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ), True),
    "lzma": (lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE), False),
    "zlib": (lambda: _ZlibAdapter(15), False),
}


def _lz4_decompressor() -> Any:
    import lz4.frame

    return lz4.frame.LZ4FrameDecompressor()


class CompressedScanner(Scanner):
    format = "compressed"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        kind = compression(item.head)
        if kind == "lz4":
            try:
                _lz4_decompressor()
            except ImportError:
                return ScanOutcome(
                    "lz4",
                    (
                        make_finding(
                            "MS-FORMAT-NOT-ANALYSED",
                            "lz4-compressed content not analysed: install modelseal[archives]",
                        ),
                    ),
                )
            factory, multi = _lz4_decompressor, True
        else:
            factory, multi = _KINDS[kind]
        raw = _Decompressing(item.source, factory(), ctx, factory if multi else None)
        outcome = ctx.nested(ScanInput(ByteSource(raw), "(decompressed)", None))
        return ScanOutcome(f"{kind}+{outcome.format}", outcome.findings)
