"""A streaming reader of pickle opcodes, protocols 0 to 5.

It yields one :class:`Op` per opcode with its decoded argument. Payloads (bytes, strings) up to the inline
limit are returned as values; larger ones come back as :class:`LargePayload` and are skipped by seeking once
the consumer has looked at them, so a 10 GB byte string costs a seek, not memory. The reader never imports,
calls or constructs anything named by the stream.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from modelseal.core.errors import Truncated
from modelseal.core.streams import ByteSource


class MalformedPickle(Exception):
    """The stream is not a valid pickle at ``offset``."""

    def __init__(self, message: str, offset: int) -> None:
        self.offset = offset
        super().__init__(f"{message} at offset {offset}")


@dataclass(frozen=True)
class LargePayload:
    """A byte or text payload too large to keep: its place and first bytes, for sniffing."""

    length: int
    offset: int
    """Absolute offset of the payload's first byte."""
    head: bytes
    is_text: bool


class Op(NamedTuple):
    """One opcode (a tuple: millions are made per large pickle)."""

    code: int
    name: str
    arg: Any
    offset: int


# Opcode bytes to names, from the pickle format (Lib/pickletools.py documents each one).
NAMES: dict[int, str] = {
    ord(c): n
    for c, n in {
        "(": "MARK",
        ".": "STOP",
        "0": "POP",
        "1": "POP_MARK",
        "2": "DUP",
        "F": "FLOAT",
        "I": "INT",
        "J": "BININT",
        "K": "BININT1",
        "L": "LONG",
        "M": "BININT2",
        "N": "NONE",
        "P": "PERSID",
        "Q": "BINPERSID",
        "R": "REDUCE",
        "S": "STRING",
        "T": "BINSTRING",
        "U": "SHORT_BINSTRING",
        "V": "UNICODE",
        "X": "BINUNICODE",
        "a": "APPEND",
        "b": "BUILD",
        "c": "GLOBAL",
        "d": "DICT",
        "}": "EMPTY_DICT",
        "e": "APPENDS",
        "g": "GET",
        "h": "BINGET",
        "i": "INST",
        "j": "LONG_BINGET",
        "l": "LIST",
        "]": "EMPTY_LIST",
        "o": "OBJ",
        "p": "PUT",
        "q": "BINPUT",
        "r": "LONG_BINPUT",
        "s": "SETITEM",
        "t": "TUPLE",
        ")": "EMPTY_TUPLE",
        "u": "SETITEMS",
        "G": "BINFLOAT",
        "\x80": "PROTO",
        "\x81": "NEWOBJ",
        "\x82": "EXT1",
        "\x83": "EXT2",
        "\x84": "EXT4",
        "\x85": "TUPLE1",
        "\x86": "TUPLE2",
        "\x87": "TUPLE3",
        "\x88": "NEWTRUE",
        "\x89": "NEWFALSE",
        "\x8a": "LONG1",
        "\x8b": "LONG4",
        "B": "BINBYTES",
        "C": "SHORT_BINBYTES",
        "\x8c": "SHORT_BINUNICODE",
        "\x8d": "BINUNICODE8",
        "\x8e": "BINBYTES8",
        "\x8f": "EMPTY_SET",
        "\x90": "ADDITEMS",
        "\x91": "FROZENSET",
        "\x92": "NEWOBJ_EX",
        "\x93": "STACK_GLOBAL",
        "\x94": "MEMOIZE",
        "\x95": "FRAME",
        "\x96": "BYTEARRAY8",
        "\x97": "NEXT_BUFFER",
        "\x98": "READONLY_BUFFER",
    }.items()
}

# Payload opcodes: name -> (length-prefix size, text?)
_COUNTED: dict[str, tuple[int, bool]] = {
    "BINSTRING": (4, False),
    "SHORT_BINSTRING": (1, False),
    "BINBYTES": (4, False),
    "SHORT_BINBYTES": (1, False),
    "BINBYTES8": (8, False),
    "BYTEARRAY8": (8, False),
    "BINUNICODE": (4, True),
    "SHORT_BINUNICODE": (1, True),
    "BINUNICODE8": (8, True),
}
_FIXED_FORMATS: dict[str, str] = {
    "BININT": "<i",
    "BININT1": "<B",
    "BININT2": "<H",
    "BINFLOAT": ">d",
    "BINGET": "<B",
    "LONG_BINGET": "<I",
    "BINPUT": "<B",
    "LONG_BINPUT": "<I",
    "EXT1": "<B",
    "EXT2": "<H",
    "EXT4": "<i",
    "PROTO": "<B",
    "FRAME": "<Q",
}
_SIZE_PREFIX = {1: "<B", 4: "<I", 8: "<Q"}
_FIXED: dict[str, struct.Struct] = {name: struct.Struct(fmt) for name, fmt in _FIXED_FORMATS.items()}
_PREFIX: dict[int, struct.Struct] = {width: struct.Struct(fmt) for width, fmt in _SIZE_PREFIX.items()}


def looks_like_pickle(head: bytes) -> bool:
    """PROTO 2..5 followed by a plausible opcode: how nested pickles are recognised inside byte strings."""
    return len(head) >= 3 and head[0] == 0x80 and 2 <= head[1] <= 5 and head[2] in NAMES


class OpcodeReader:
    """Iterates opcodes of one pickle (up to and including STOP)."""

    def __init__(self, src: ByteSource, *, max_line: int, max_inline: int) -> None:
        self.src = src
        self.max_line = max_line
        self.max_inline = max_inline
        self.protocol = 0

    def _line(self) -> bytes:
        return self.src.readline(self.max_line)

    def _text_arg(self, name: str, offset: int) -> Any:
        line = self._line()
        try:
            if name == "INT":
                if line in (b"00", b"01"):
                    return line == b"01"
                return int(line)
            if name == "LONG":
                return int(line[:-1] if line.endswith(b"L") else line)
            if name == "FLOAT":
                return float(line)
            if name == "STRING":
                return _unquote(line)
            if name == "UNICODE":
                return line.decode("raw-unicode-escape")
            if name in ("GET", "PUT"):
                return int(line)
            if name == "PERSID":
                return line.decode("ascii")
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPickle(f"bad {name} argument {line[:40]!r}: {exc}", offset) from None
        raise AssertionError(name)

    def __iter__(self) -> Iterator[Op]:
        src = self.src
        while True:
            offset = src.tell()
            try:
                code = src.read_byte()
            except Truncated:
                raise Truncated(f"stream ends without STOP at offset {offset}") from None
            name = NAMES.get(code)
            if name is None:
                raise MalformedPickle(f"unknown opcode 0x{code:02x}", offset)
            arg: Any = None
            fixed = _FIXED.get(name)
            if fixed is not None:
                arg = fixed.unpack(src.read(fixed.size))[0]
                if name == "PROTO":
                    if arg > 5:
                        raise MalformedPickle(f"unsupported protocol {arg}", offset)
                    self.protocol = arg
            elif name in _COUNTED:
                width, is_text = _COUNTED[name]
                length = _PREFIX[width].unpack(src.read(width))[0]
                if name == "BINSTRING" and length > 0x7FFFFFFF:
                    raise MalformedPickle("negative BINSTRING length", offset)
                start = src.tell()
                if length <= self.max_inline:
                    raw = src.read(length)
                    arg = _decode(raw, offset) if is_text else raw
                else:
                    yield Op(code, name, LargePayload(length, start, src.peek(64), is_text), offset)
                    # Whatever the consumer did (nothing, or a nested scan in place), land after the payload.
                    left = start + length - src.tell()
                    if left < 0:
                        raise MalformedPickle("nested content ran past its payload", start)
                    src.skip(left)
                    continue
            elif name in ("LONG1", "LONG4"):
                width = 1 if name == "LONG1" else 4
                n = _PREFIX[width].unpack(src.read(width))[0]
                if n > self.max_line:
                    raise MalformedPickle(f"{name} of {n} bytes", offset)
                arg = int.from_bytes(src.read(n), "little", signed=True)
            elif name in ("GLOBAL", "INST"):
                module = self._line()
                qualname = self._line()
                try:
                    arg = (module.decode("utf-8"), qualname.decode("utf-8"))
                except UnicodeDecodeError:
                    raise MalformedPickle(f"{name} with undecodable name", offset) from None
            elif name in ("INT", "LONG", "FLOAT", "STRING", "UNICODE", "GET", "PUT", "PERSID"):
                arg = self._text_arg(name, offset)
            yield Op(code, name, arg, offset)
            if name == "STOP":
                return


def _decode(raw: bytes, offset: int) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise MalformedPickle("string payload is not valid UTF-8", offset) from None


def _unquote(line: bytes) -> bytes:
    """Protocol-0 STRING: a Python repr of a byte string; decoded without eval."""
    if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
        import codecs

        return codecs.escape_decode(line[1:-1])[0]
    raise ValueError("STRING argument is not quoted")
