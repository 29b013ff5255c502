"""Content that no model loader executes: plain text, and binary formats recognised as inert by content
(images, audio, documents, tokenizer and weight formats read as data). Everything else that matches no
scanner is unknown, and unknown content fails closed (``MS-FORMAT-UNKNOWN``, high).

Text that is code (``.py``, chat templates, configs naming code) is analysed by the repository scanners.
Inert content under a name that a model loader would open (``model.pt`` that is a PNG) contradicts its name:
the loader given it reads something no scanner vouched for, so it is reported.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from modelseal.core.findings import Severity
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome


def _riff(kind: bytes) -> Callable[[bytes], bool]:
    return lambda head: head[:4] == b"RIFF" and head[8:12] == kind


def _sentencepiece(head: bytes) -> bool:
    """SentencePiece ``ModelProto``: field 1 (pieces), whose message starts with field 1 (the piece, UTF-8)
    and goes on with its score (field 2, a float) or type (field 3)."""
    if head[:1] != b"\x0a":
        return False
    i = _varint_end(head, 1)
    if i is None or head[i : i + 1] != b"\x0a":
        return False
    j = _varint_end(head, i + 1)
    if j is None:
        return False
    length = _varint(head[i + 1 : j])
    piece, follow = head[j : j + length], head[j + length : j + length + 1]
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return len(piece) == length and follow in (b"\x15", b"\x18", b"\x0a")


def _varint_end(data: bytes, start: int) -> int | None:
    for i in range(start, min(start + 10, len(data))):
        if data[i] < 0x80:
            return i + 1
    return None


def _varint(data: bytes) -> int:
    return sum((b & 0x7F) << (7 * k) for k, b in enumerate(data))


def _msgpack_map(head: bytes) -> bool:
    """A msgpack map with a string key first (Flax ``.msgpack`` weights: arrays are ext types, no code)."""
    if not head:
        return False
    first = head[0]
    if 0x81 <= first <= 0x8F:
        key = 1
    elif first in (0xDE, 0xDF):
        key = 3 if first == 0xDE else 5
    else:
        return False
    return len(head) > key and (0xA0 <= head[key] <= 0xBF or head[key] in (0xD9, 0xDA, 0xDB))


_UBJSON_LENGTHS = {b"i": 1, b"U": 1, b"I": 2, b"l": 4, b"L": 8}


def _ubjson_object(head: bytes) -> bool:
    """A UBJSON object whose first key is a printable name (XGBoost's ``.ubj`` models: trees as numbers)."""
    size = _UBJSON_LENGTHS.get(head[1:2])
    if head[:1] != b"{" or size is None or len(head) < 2 + size:
        return False
    length = int.from_bytes(head[2 : 2 + size], "big", signed=True)
    key = head[2 + size : 2 + size + length]
    return (
        0 < length <= 256
        and len(key) == min(length, len(head) - 2 - size)
        and key.isascii()
        and key.decode("ascii").isprintable()
    )


# (format, signature): binary formats whose loaders read data, never code.
INERT: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("image/png", lambda h: h[:8] == b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", lambda h: h[:3] == b"\xff\xd8\xff"),
    ("image/gif", lambda h: h[:6] in (b"GIF87a", b"GIF89a")),
    ("image/webp", _riff(b"WEBP")),
    ("image/tiff", lambda h: h[:4] in (b"II*\x00", b"MM\x00*")),
    (
        "image/bmp",
        lambda h: h[:2] == b"BM" and h[14:18] in (b"\x0c\0\0\0", b"(\0\0\0", b"l\0\0\0", b"|\0\0\0"),
    ),
    ("image/x-icon", lambda h: h[:4] == b"\x00\x00\x01\x00" and len(h) > 4 and 0 < h[4] < 64),
    ("audio/wav", _riff(b"WAVE")),
    ("audio/flac", lambda h: h[:4] == b"fLaC"),
    ("audio/ogg", lambda h: h[:4] == b"OggS"),
    ("audio/mpeg", lambda h: h[:3] == b"ID3"),
    ("video/mp4", lambda h: h[4:8] == b"ftyp"),
    ("application/pdf", lambda h: h[:5] == b"%PDF-"),
    ("parquet", lambda h: h[:4] == b"PAR1"),
    ("arrow", lambda h: h[:6] == b"ARROW1" or h[:4] == b"\xff\xff\xff\xff"),
    ("tflite", lambda h: h[4:8] == b"TFL3"),
    ("ggml", lambda h: h[:4] in (b"lmgg", b"fmgg", b"tjgg", b"algg")),
    ("sentencepiece", _sentencepiece),
    ("msgpack", _msgpack_map),
    ("ubjson", _ubjson_object),
)

# Raw tensor bytes have no signature; they are recognised only under the names of the formats that
# index them (a TensorFlow checkpoint shard, ONNX external data, OpenVINO IR weights, Core ML weights), and
# only when no signature matched.
_RAW_DATA = re.compile(
    r"(\.data-\d{5}-of-\d{5}|\.onnx[._]data|(^|/)openvino_[^/]*\.bin"
    r"|\.mlpackage/Data/com\.apple\.CoreML/weights/weight\.bin)$"
)

# Names a model loader opens (torch.load, pickle, joblib, numpy, safetensors, ONNX, Keras, GGUF ...).
_LOADER_SUFFIXES = frozenset(
    {
        ".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib", ".sav", ".dill", ".npy", ".npz",
        ".safetensors", ".onnx", ".h5", ".hdf5", ".keras", ".pb", ".gguf", ".model", ".mar", ".nemo",
    }
)  # fmt: skip


def inert_format(head: bytes) -> str:
    """The inert format ``head`` starts with, or ``""``."""
    for name, sniff in INERT:
        if sniff(head):
            return name
    return ""


def inert(head: bytes) -> bool:
    return bool(inert_format(head))


def raw_data_name(name: str) -> bool:
    return bool(_RAW_DATA.search(name))


class TextScanner(Scanner):
    format = "text"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        from modelseal.scanners.pickle.scanner import record_text_imports

        record_text_imports(item, ctx)
        return ScanOutcome("text")


class InertScanner(Scanner):
    format = "inert"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        fmt = inert_format(item.head)
        suffix = posixpath.splitext(item.name)[1].lower()
        if suffix not in _LOADER_SUFFIXES or fmt in ("sentencepiece", "ggml", "tflite", "msgpack"):
            return ScanOutcome(fmt)
        return ScanOutcome(
            fmt,
            (
                make_finding(
                    "MS-FORMAT-EXTENSION-MISMATCH",
                    f"named like a model file ({suffix}) but the content is {fmt}, which no loader reads",
                    severity=Severity.HIGH,
                    evidence=f"starts with {item.head[:8]!r}",
                ),
            ),
        )
