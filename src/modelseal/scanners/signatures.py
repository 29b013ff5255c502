"""Content signatures: how each format is recognised from its first bytes.

Kept apart from the scanners so that sniffing imports nothing heavy: the registry consults these first and
imports only the scanner whose signature matched. Extensions never decide.
"""

from __future__ import annotations

import struct

from modelseal.core.errors import Truncated
from modelseal.core.streams import ByteSource
from modelseal.scanners.protowire import WireError, read_varint

# ModelProto field tags that may follow ONNX's ir_version (field numbers 2-8, 14, 20, 25).
_ONNX_MODEL_TAGS = frozenset(b"\x12\x1a\x22\x28\x32\x3a\x42\x72\xa2\xca")
LZ4_FRAME = b"\x04\x22\x4d\x18"
ZSTD_FRAME = b"\x28\xb5\x2f\xfd"
JOBLIB_ZFILE = b"ZF"
JOBLIB_ZFILE_HEADER = 2 + 19
"""joblib < 0.10: "ZF", the decompressed length in hex padded to 19 characters, then a zlib stream."""


def zip_archive(head: bytes) -> bool:
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def npy(head: bytes) -> bool:
    return head[:6] == b"\x93NUMPY"


def seven_zip(head: bytes) -> bool:
    return head[:6] == b"7z\xbc\xaf\x27\x1c"


def tar(head: bytes) -> bool:
    """A ustar header, or an old (V7) header without the magic that ``tarfile`` (and so the legacy torch
    loader) accepts when its checksum is right."""
    if len(head) < 512:
        return False
    return head[257:262] == b"ustar" or _tar_checksum_ok(head)


def _tar_checksum_ok(head: bytes) -> bool:
    """tarfile's test (``nti`` of the chksum field against the unsigned or signed byte sum)."""
    field = head[148:156]
    if field[:1] in (b"\x80", b"\xff"):
        return False  # base-256 checksums do not occur in real headers
    text = field.split(b"\0", 1)[0].strip()
    try:
        value = int(text or b"0", 8)
    except ValueError:
        return False
    unsigned = 256 + sum(head[:148]) + sum(head[156:512])
    signed = 256 + sum(struct.unpack_from("148b8x356b", head))
    return value in (unsigned, signed) and head[:1] != b"\0"


def gguf(head: bytes) -> bool:
    return head[:4] == b"GGUF"


def hdf5(head: bytes) -> bool:
    return head[:8] == b"\x89HDF\r\n\x1a\n"


def safetensors(head: bytes) -> bool:
    """An 8-byte little-endian header length, then the JSON header."""
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return n < (1 << 40) and head[8:9] == b"{"


def compression(head: bytes) -> str:
    """The single-stream compression ``head`` starts with, or ``""``."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:3] == b"\x5d\x00\x00":
        return "lzma"
    if head[:4] == LZ4_FRAME:
        return "lz4"
    if head[:4] == ZSTD_FRAME:
        return "zstd"
    if head[:2] == JOBLIB_ZFILE and _hex_length(head[2:JOBLIB_ZFILE_HEADER]):
        return "joblib-zfile"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    return ""


def _hex_length(field: bytes) -> bool:
    """joblib reads the field with ``int(field, 16)``."""
    try:
        int(field, 16)
    except ValueError:
        return False
    return len(field) == JOBLIB_ZFILE_HEADER - 2


def compressed(head: bytes) -> bool:
    return bool(compression(head))


def pickle_with_proto(head: bytes) -> bool:
    """PROTO with a known protocol is a pickle even if what follows is damaged: damage is a finding."""
    return len(head) >= 2 and head[0] == 0x80 and head[1] <= 5


def onnx(head: bytes) -> bool:
    """``ir_version`` (field 1, a small integer) followed by another ModelProto field."""
    if head[:1] != b"\x08":
        return False
    src = ByteSource.from_bytes(head[1:16])
    try:
        version = read_varint(src)
        nxt = src.peek(1)
    except (Truncated, WireError):
        return False
    return 1 <= version <= 64 and len(nxt) == 1 and nxt[0] in _ONNX_MODEL_TAGS


def savedmodel(head: bytes) -> bool:
    """saved_model_schema_version = 1, then a MetaGraphDef that opens with its MetaInfoDef (field 1)."""
    if not head.startswith(b"\x08\x01\x12"):
        return False
    src = ByteSource.from_bytes(head[3:])
    try:
        read_varint(src)
        return src.peek(1) in (b"\x0a", b"\x12")
    except (Truncated, WireError):
        return False


def keras_metadata(head: bytes) -> bool:
    """``keras_metadata.pb``: SavedMetadata.nodes (field 1) whose first SavedObject starts with node_id or
    node_path, with Keras JSON in sight."""
    return head[:1] == b"\x0a" and b'"class_name"' in head and (b"\x10" in head[1:4] or b"\x1a" in head[1:4])


def text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return not head
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sniff window is still text.
        return exc.start >= len(head) - 3
    return True
