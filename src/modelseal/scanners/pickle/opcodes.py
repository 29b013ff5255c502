"""A streaming reader of pickle opcodes, protocols 0 to 5.

It yields one :class:`Op` per opcode with its decoded argument. Payloads (bytes, strings) up to the inline
limit are returned as values; larger ones come back as :class:`LargePayload` and are skipped by seeking once
the consumer has looked at them, so a 10 GB byte string costs a seek, not memory. The reader never imports,
calls or constructs anything named by the stream.
"""

from __future__ import annotations

import struct
from collections.abc import Generator, Iterator
from typing import Any, NamedTuple

from modelseal.core.errors import Truncated
from modelseal.core.streams import ByteSource


class MalformedPickle(Exception):
    """The stream is not a valid pickle at ``offset``."""

    def __init__(self, message: str, offset: int) -> None:
        self.offset = offset
        super().__init__(f"{message} at offset {offset}")


class LargePayload(NamedTuple):
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

# How each opcode's argument is encoded, indexed by opcode byte (None: not an opcode).
_NOARG, _FIXED, _COUNTED, _SLOW, _BYTE = range(5)
_COUNTED_PREFIX: dict[str, tuple[str, bool]] = {  # length prefix, text?
    "BINSTRING": ("<I", False),
    "SHORT_BINSTRING": ("<B", False),
    "BINBYTES": ("<I", False),
    "SHORT_BINBYTES": ("<B", False),
    "BINBYTES8": ("<Q", False),
    "BYTEARRAY8": ("<Q", False),
    "BINUNICODE": ("<I", True),
    "SHORT_BINUNICODE": ("<B", True),
    "BINUNICODE8": ("<Q", True),
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
# Arguments read through the source rather than in place: text lines (protocol 0, GLOBAL, INST) and the
# variable-length LONG1/LONG4. Rare in model files, so they take the slower general path.
_SLOW_ARGS = frozenset(
    {"LONG1", "LONG4", "GLOBAL", "INST", "INT", "LONG", "FLOAT", "STRING", "UNICODE", "GET", "PUT", "PERSID"}
)
_LONG_PREFIX = {"LONG1": struct.Struct("<B"), "LONG4": struct.Struct("<I")}


def _spec(name: str) -> tuple[str, int, struct.Struct | None, bool]:
    if name in ("BININT1", "BINGET", "BINPUT"):  # the most frequent arguments: one byte, read by index
        return name, _BYTE, None, False
    if name in _FIXED_FORMATS:
        return name, _FIXED, struct.Struct(_FIXED_FORMATS[name]), False
    if name in _COUNTED_PREFIX:
        prefix, is_text = _COUNTED_PREFIX[name]
        return name, _COUNTED, struct.Struct(prefix), is_text
    return name, _SLOW if name in _SLOW_ARGS else _NOARG, None, False


_SPECS: list[tuple[str, int, struct.Struct | None, bool] | None] = [
    _spec(NAMES[code]) if code in NAMES else None for code in range(256)
]
_LOOKAHEAD = 9
"""Bytes that hold any opcode with a fixed-size argument or a length prefix (FRAME, BINBYTES8: 1 + 8)."""
_PROTO, _STOP, _BINSTRING = 0x80, ord("."), ord("T")


def looks_like_pickle(head: bytes) -> bool:
    """PROTO 2..5 followed by a plausible opcode: how nested pickles are recognised inside byte strings."""
    return len(head) >= 3 and head[0] == 0x80 and 2 <= head[1] <= 5 and head[2] in NAMES


class OpcodeReader:
    """Iterates opcodes of one pickle (up to and including STOP), one by one or in batches.

    Fields are decoded in place from the source's buffer (one opcode costs a few index operations, not a
    read call per field).
    """

    def __init__(self, src: ByteSource, *, max_line: int, max_inline: int) -> None:
        self.src = src
        self.max_line = max_line
        self.max_inline = max_inline
        self.protocol = 0
        self._payload: tuple[int, int] | None = None
        self._failed: MalformedPickle | Truncated | None = None
        """What broke off the batch last handed over, to be raised once it is consumed."""
        """The large payload the last batch handed over ended with (start, end), until it is skipped."""

    def _land(self) -> None:
        """After a large payload: whatever the consumer did (nothing, or a nested scan in place), land
        after it."""
        if self._payload is None:
            return
        (start, end), self._payload = self._payload, None
        left = end - self.src.tell()
        if left < 0:
            raise MalformedPickle("nested content ran past its payload", start)
        self.src.skip(left)

    def finish(self, batches: Generator[list[Op], None, None]) -> None:
        """Leave ``batches`` after the batch it last handed over, where resuming it would have started
        reading the next opcode, or raise what resuming it would have raised."""
        batches.close()
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed
        self._land()

    def _line(self) -> bytes:
        """A text argument. Read from a file, CPython (both unpicklers) also takes a last line that the end
        of the stream cuts off, and drops its last byte as if it were the newline."""
        try:
            return self.src.readline(self.max_line)
        except Truncated:
            rest = self.src.rest_of_line(self.max_line)
            if rest is None:
                raise
            return rest[:-1]

    def _slow_arg(self, name: str, offset: int) -> Any:
        """The argument of an opcode in :data:`_SLOW_ARGS`, read through the source."""
        if name in _LONG_PREFIX:
            prefix = _LONG_PREFIX[name]
            n = prefix.unpack(self.src.read(prefix.size))[0]
            if n > self.max_line:
                raise MalformedPickle(f"{name} of {n} bytes", offset)
            return int.from_bytes(self.src.read(n), "little", signed=True)
        if name in ("GLOBAL", "INST"):
            module = self._line()
            qualname = self._line()
            try:
                return module.decode("utf-8"), qualname.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedPickle(f"{name} with undecodable name", offset) from None
        line = self._line()
        try:
            if name == "INT":
                return _int_line(line)
            if name == "LONG":
                return _long_line(line)
            if name == "FLOAT":
                return float(_c_string(line))
            if name == "STRING":
                return _unquote(line)
            if name == "UNICODE":
                return line.decode("raw-unicode-escape")
            if name in ("GET", "PUT"):
                return _c_int(_c_string(line), 10)
            return line.decode("ascii")  # PERSID
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPickle(f"bad {name} argument {line[:40]!r}: {exc}", offset) from None

    def _resume(self) -> tuple[bytes, int, int, int, bool]:
        """Take up the source's buffer: ``buf, pos, base``, its end, and whether it holds all that is left
        of the source (then running short of bytes means the stream is cut off)."""
        buf, pos, base = self.src.buffered(_LOOKAHEAD)
        return buf, pos, base, len(buf), len(buf) - pos < _LOOKAHEAD

    def __iter__(self) -> Iterator[Op]:
        """One opcode at a time, for consumers that never read from the source themselves."""
        for batch in self.batches():
            yield from batch

    def batches(self, pause_after: frozenset[int] = frozenset()) -> Generator[list[Op], None, None]:
        """The opcodes in lists, so a consumer's loop runs over a list rather than resuming a generator
        per opcode. A list ends after an opcode in ``pause_after`` or a large payload (the consumer may then
        read from the source itself), at STOP, and at :data:`BATCH_OPS` opcodes or :data:`BATCH_BYTES`
        bytes of payloads. A stream that breaks off first yields the opcodes read before the break, then
        raises, so nothing that was read goes unseen."""
        src = self.src
        max_inline = self.max_inline
        new_op = tuple.__new__
        handover = pause_after | {_STOP}
        batch: list[Op] = []
        add = batch.append
        room = BATCH_OPS  # opcodes left in this batch; set to 1 to hand the batch over after this opcode
        held = 0
        buf, pos, base, end, ended = self._resume()
        try:
            while True:
                if end - pos < _LOOKAHEAD:
                    if not ended:
                        src.pos = pos
                        buf, pos, base, end, ended = self._resume()
                    if pos >= end:
                        src.pos = pos
                        raise Truncated(f"stream ends without STOP at offset {base + pos}")
                code = buf[pos]
                spec = _SPECS[code]
                offset = base + pos
                if spec is None:
                    raise MalformedPickle(f"unknown opcode 0x{code:02x}", offset)
                name, kind, fmt, is_text = spec
                if kind == _BYTE:
                    if pos + 1 >= end:
                        src.pos = end
                        raise _cut_off(name, offset)
                    arg: Any = buf[pos + 1]
                    pos += 2
                elif kind == _NOARG:
                    arg = None
                    pos += 1
                elif kind == _SLOW:
                    src.pos = pos + 1
                    arg = self._slow_arg(name, offset)
                    buf, pos, base, end, ended = self._resume()
                else:
                    assert fmt is not None
                    field_end = pos + 1 + fmt.size
                    if field_end > end:
                        src.pos = end
                        raise _cut_off(name, offset)
                    value = fmt.unpack_from(buf, pos + 1)[0]
                    pos = field_end
                    if kind == _FIXED:
                        arg = value
                        if code == _PROTO:
                            if value > 5:
                                raise MalformedPickle(f"unsupported protocol {value}", offset)
                            self.protocol = value
                    elif code == _BINSTRING and value > 0x7FFFFFFF:
                        raise MalformedPickle("negative BINSTRING length", offset)
                    elif value <= max_inline:
                        if end - pos >= value:
                            raw = buf[pos : pos + value]
                            pos += value
                        else:
                            src.pos = pos
                            raw = src.read(value)
                            buf, pos, base, end, ended = self._resume()
                        arg = _decode(raw, offset) if is_text else raw
                        held += value
                        if held > BATCH_BYTES:
                            room = 1
                    else:
                        src.pos = pos
                        start = base + pos
                        payload = LargePayload(value, start, src.peek(64), is_text)
                        add(new_op(Op, (code, name, payload, offset)))
                        self._payload = start, start + value
                        yield batch
                        batch = []
                        add = batch.append
                        room, held = BATCH_OPS, 0
                        self._land()
                        buf, pos, base, end, ended = self._resume()
                        continue
                add(new_op(Op, (code, name, arg, offset)))
                room -= 1
                if room and code not in handover:
                    continue
                src.pos = pos
                yield batch
                if code == _STOP:
                    return
                batch = []
                add = batch.append
                room, held = BATCH_OPS, 0
                if src.pos != pos or src.buf is not buf:  # the consumer read from the source
                    buf, pos, base, end, ended = self._resume()
        except (MalformedPickle, Truncated) as exc:
            if batch:
                self._failed = exc  # for a consumer that leaves after this batch: see finish()
                yield batch
                self._failed = None
            raise


BATCH_OPS = 1024
BATCH_BYTES = 1 << 20
"""Payload bytes one batch may hold before it is handed over (the consumer bounds what it keeps)."""


def _cut_off(name: str, offset: int) -> Truncated:
    return Truncated(f"{name} at offset {offset} is cut off by the end of the stream")


def _decode(raw: bytes, offset: int) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise MalformedPickle("string payload is not valid UTF-8", offset) from None


# Protocol-0 numbers are read as CPython's _pickle reads them (Modules/_pickle.c): C strings (a NUL ends
# them), INT through strtol(s, 0) with PyLong_FromString(s, 0) as the fallback, LONG (one trailing "L"
# dropped) and GET/PUT through PyLong_FromString. A form the scanner rejected but CPython accepts would hide
# everything after it.
_C_SPACE = b" \t\n\v\f\r"
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_DIGITS = {8: b"01234567", 10: b"0123456789", 16: b"0123456789abcdefABCDEF"}


def _c_string(line: bytes) -> bytes:
    return line.split(b"\0", 1)[0]


def _c_int(text: bytes, base: int) -> int:
    """PyLong_FromString: Python's integer literal grammar (underscores, prefixes with base 0), ASCII only."""
    if not text.isascii():
        raise ValueError("not ASCII")
    return int(text.decode("ascii"), base)


def _strtol0(text: bytes) -> int | None:
    """C ``strtol(text, &end, 0)`` when it consumes all of ``text`` without overflow, else None."""
    i, n = 0, len(text)
    while i < n and text[i] in _C_SPACE:
        i += 1
    sign = 1
    if i < n and text[i] in b"+-":
        sign = -1 if text[i] == ord("-") else 1
        i += 1
    if text[i : i + 2] in (b"0x", b"0X") and _digits(text[i + 2 :], 16):
        base, i = 16, i + 2
    elif text[i : i + 1] == b"0":
        base = 8
    else:
        base = 10
    count = _digits(text[i:], base)
    if count == 0 or i + count != n:
        return None
    value = sign * int(text[i : i + count], base)
    return value if _LONG_MIN <= value <= _LONG_MAX else None


def _digits(text: bytes, base: int) -> int:
    """How many leading bytes of ``text`` are digits of ``base`` (8, 10 or 16)."""
    allowed = _DIGITS[base]
    count = 0
    for c in text:
        if c not in allowed:
            break
        count += 1
    return count


def _int_line(line: bytes) -> int | bool:
    text = _c_string(line)
    # A line that starts with NUL: C's strtol reads no digit and stops on the NUL, which the unpickler
    # accepts as the end of the number: 0 (False when the line is two bytes long, as "00" is).
    value = 0 if line and not text else _strtol0(text)
    if value is None:
        return _c_int(text, 0)
    if len(line) == 2 and value in (0, 1):  # "00"/"01": protocol 0's False and True
        return value == 1
    return value


def _long_line(line: bytes) -> int:
    if line.endswith(b"L"):
        line = line[:-1]
    return _c_int(_c_string(line), 0)


def _unquote(line: bytes) -> bytes:
    """Protocol-0 STRING: a Python repr of a byte string; decoded without eval."""
    if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
        import codecs

        return codecs.escape_decode(line[1:-1])[0]
    raise ValueError("STRING argument is not quoted")
