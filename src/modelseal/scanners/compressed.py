"""Single-stream compression (gzip, bz2, xz, lzma, zlib, lz4, zstd, joblib's old ``ZF`` container):
decompressed on the fly, never in full.

joblib writes these around its pickles; pandas reads zstd; model hubs serve ``.gz`` checkpoints. The
decompressed bytes count against the file's budget, so a bomb stops at the limit instead of filling memory
or disk. A format whose decoder is an optional extra (lz4, zstd) and is missing is a finding, never a pass.
"""

from __future__ import annotations

import bz2
import functools
import importlib
import lzma
import zlib
from collections.abc import Callable
from typing import Any

from modelseal.core.errors import DecompressionBomb
from modelseal.core.rules import make_finding
from modelseal.core.streams import CHUNK, ByteSource, skip_by_reading
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.signatures import JOBLIB_ZFILE_HEADER, compression


class Decompressing:
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
        self.cut_off = False
        """The compressed stream ended before its end marker."""

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
                if not chunk:  # what was decoded reached the loader before it failed: scan it, then report
                    self.cut_off = self._done = True
                    break
                self._compressed += len(chunk)
                out = self._d.decompress(chunk, n)
            else:
                out = self._d.decompress(b"", n)
            if out:
                return self._account(out)
        return b""

    def _account(self, out: bytes) -> bytes:
        self._produced += len(out)
        compressed = self._compressed + getattr(self._d, "consumed", 0)  # decoders that pull their input
        charge_inflated(self._ctx, len(out), self._produced, compressed)
        return out

    def skip(self, n: int) -> int:
        return skip_by_reading(self.read, n)


def charge_inflated(ctx: ScanContext, n: int, produced: int, compressed: int) -> None:
    """Count ``n`` more inflated bytes (``produced`` so far from ``compressed`` stored) against the file's
    budget; DecompressionBomb once the ratio is past the limit."""
    limits = ctx.limits
    ctx.budget.add_decompressed(n, limits)
    if produced > limits.bomb_min_bytes and produced > limits.max_compression_ratio * max(compressed, 1):
        raise DecompressionBomb(produced, compressed, limits.max_compression_ratio)


class Inflated:
    """RawReader over a reader that inflates by itself (a zip member), its output counted as it comes:
    for content whose declared size cannot be trusted, the bytes actually produced decide."""

    def __init__(self, fileobj: Any, stored: int, ctx: ScanContext) -> None:
        self._f = fileobj
        self._stored = stored
        self._ctx = ctx
        self._produced = 0

    def read(self, n: int) -> bytes:
        out: bytes = self._f.read(n)
        self._produced += len(out)
        charge_inflated(self._ctx, len(out), self._produced, self._stored)
        return out

    def skip(self, n: int) -> int:
        return skip_by_reading(self.read, n)


class ZlibAdapter:
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
    "gzip": (lambda: ZlibAdapter(31), True),
    "bz2": (bz2.BZ2Decompressor, True),
    "xz": (lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ), True),
    "lzma": (lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE), False),
    "zlib": (lambda: ZlibAdapter(15), False),
}


def _lz4_decompressor() -> Any:
    import lz4.frame

    return lz4.frame.LZ4FrameDecompressor()


class _ZstdAdapter:
    """zstandard's stream reader (frames one after another, like ``zstd -d``) with the bz2/lzma interface.
    It pulls its input from the source itself, so every call's output is bounded by ``max_length``."""

    needs_input = False

    def __init__(self, src: ByteSource) -> None:
        import zstandard

        self._src = src
        self.consumed = 0
        self.eof = False
        self.unused_data = b""
        self._r = zstandard.ZstdDecompressor().stream_reader(self, read_across_frames=True)  # type: ignore[arg-type]

    def read(self, n: int) -> bytes:
        """The compressed side, read by zstandard."""
        data = self._src.read_upto(n)
        self.consumed += len(data)
        return data

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out: bytes = self._r.read(max_length)
        self.eof = not out
        return out


# Optional decoders: kind -> (module, extra that installs it)
_OPTIONAL = {"lz4": ("lz4.frame", "archives"), "zstd": ("zstandard", "archives")}


class CompressedScanner(Scanner):
    format = "compressed"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        kind = compression(item.head)
        factory: Callable[[], Any]
        if kind in _OPTIONAL:
            module, extra = _OPTIONAL[kind]
            try:
                importlib.import_module(module)
            except ImportError:
                return ScanOutcome(
                    kind,
                    (
                        make_finding(
                            "MS-FORMAT-NOT-ANALYSED",
                            f"{kind}-compressed content not analysed: install modelseal[{extra}]",
                        ),
                    ),
                )
            multi = kind == "lz4"
            factory = _lz4_decompressor if multi else functools.partial(_ZstdAdapter, item.source)
        elif kind == "joblib-zfile":
            item.source.skip(JOBLIB_ZFILE_HEADER)
            if item.source.peek(1) == b" ":  # joblib <= 0.8.4 wrote one more space
                item.source.skip(1)
            factory, multi = _KINDS["zlib"]
        else:
            factory, multi = _KINDS[kind]
        raw = Decompressing(item.source, factory(), ctx, factory if multi else None)
        outcome = ctx.nested(ScanInput(ByteSource(raw), "(decompressed)", None))
        findings = outcome.findings
        if raw.cut_off:
            cut = make_finding("MS-ARCHIVE-MALFORMED", f"{kind} stream ends before its end marker")
            findings = (*findings, cut)
        return ScanOutcome(f"{kind}+{outcome.format}", findings)
