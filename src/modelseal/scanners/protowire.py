"""The protobuf wire format, read as a stream: enough to walk TensorFlow and Keras messages without their
generated classes (and without TensorFlow).

Length-delimited fields are handed out as windows over the source; whatever the caller leaves unread is
skipped by seeking, so a 1 GB constant inside a graph costs a seek, not memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from modelseal.core.errors import Truncated
from modelseal.core.streams import ByteSource

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(src: ByteSource) -> int:
    value = 0
    for shift in range(0, 70, 7):
        byte = src.read_byte()
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
    raise WireError(f"varint longer than 10 bytes at offset {src.tell()}")


def fields(src: ByteSource) -> Iterator[tuple[int, int, int | ByteSource]]:
    """Yield ``(field number, wire type, value)`` until ``src`` ends; ``value`` is an int, or a window
    over the payload for length-delimited fields (drained after the caller is done with it)."""
    try:
        while not src.at_eof():
            key = read_varint(src)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise WireError(f"field number 0 at offset {src.tell()}")
            if wire == VARINT:
                yield number, wire, read_varint(src)
            elif wire == I64:
                yield number, wire, int.from_bytes(src.read(8), "little")
            elif wire == I32:
                yield number, wire, int.from_bytes(src.read(4), "little")
            elif wire == LEN:
                length = read_varint(src)
                start = src.tell()
                window = src.window(length)
                yield number, wire, window
                window.drain()
                if window.tell() != start + length:
                    raise WireError(f"a field of {length} bytes at offset {start} is cut off")
            else:
                raise WireError(f"unsupported wire type {wire} at offset {src.tell()}")
    except Truncated as exc:
        raise WireError(f"message is cut off: {exc}") from None


def read_string(value: int | ByteSource, limit: int = 1 << 16) -> str:
    """A bounded string field; longer values are cut (they only ever serve as evidence)."""
    if not isinstance(value, ByteSource):
        raise WireError("expected a length-delimited field")
    return value.read_upto(limit).decode("utf-8", "replace")
