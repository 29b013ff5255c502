"""A forward-only, buffered byte source that skips payloads by seeking.

Every binary parser reads through :class:`ByteSource`: it works the same over a file (where a skip is a
seek, so a 1 GB tensor costs nothing), a decompressor or an archive member (where a skip reads and
discards in fixed chunks, so memory stays flat), and a window of another source (a pickle nested in a byte
string is parsed in place, without copying it out).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, BinaryIO, Protocol

from modelseal.core.errors import Truncated

CHUNK = 1 << 16


def skip_by_reading(read: Callable[[int], bytes], n: int) -> int:
    """Skip ``n`` bytes of a reader that cannot seek: read and discard them in bounded chunks."""
    done = 0
    while done < n:
        got = read(min(CHUNK * 16, n - done))
        if not got:
            break
        done += len(got)
    return done


class RawReader(Protocol):
    def read(self, n: int, /) -> bytes: ...
    def skip(self, n: int, /) -> int: ...


class FileRaw:
    """Adapts a binary file object; skips by seeking when the object allows it."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._f = fileobj
        try:
            self._seekable = fileobj.seekable()
        except (AttributeError, OSError, ValueError):
            self._seekable = False
        self._size: int | None = None
        if self._seekable:
            try:
                here = fileobj.tell()
                end = fileobj.seek(0, io.SEEK_END)
                fileobj.seek(here)
                self._size = end
            except (OSError, ValueError):
                self._seekable = False

    def read(self, n: int) -> bytes:
        return self._f.read(n)

    def skip(self, n: int) -> int:
        if self._seekable and self._size is not None:
            here = self._f.tell()
            target = min(here + n, self._size)
            self._f.seek(target)
            return target - here
        return skip_by_reading(self._f.read, n)


class FileWindow(io.RawIOBase):
    """Bytes ``start`` to ``start + size`` of a seekable file, as a seekable file of their own: a stored zip
    member read in place, which a nested container can seek in without a copy. Every read seeks the file
    first, so the file may be read elsewhere between two reads."""

    def __init__(self, f: IO[bytes], start: int, size: int) -> None:
        super().__init__()
        self._f, self._start, self._size, self._pos = f, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence not in (io.SEEK_SET, io.SEEK_CUR, io.SEEK_END):
            raise ValueError(f"invalid whence ({whence})")
        base = (0, self._pos, self._size)[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class _WindowRaw:
    """The next ``n`` bytes of a parent source, consumed from it as they are read."""

    def __init__(self, parent: ByteSource, n: int) -> None:
        self._parent = parent
        self._left = n

    def read(self, n: int) -> bytes:
        data = self._parent.read_upto(min(n, self._left))
        self._left -= len(data)
        return data

    def skip(self, n: int) -> int:
        step = min(n, self._left)
        done = self._parent.skip_upto(step)
        self._left -= done
        return done


class ByteSource:
    """Buffered reader with exact reads, peeks, bounded line reads and cheap skips.

    ``buf``, ``pos`` and ``base`` (the buffered bytes, the read position in them, the absolute offset of
    ``buf[0]``) are public for decoders of many small fields, such as pickle opcodes: they index ``buf``
    in place, set ``pos`` past what they used (never past ``len(buf)``) and call :meth:`buffered` when
    they need more, instead of paying a method call per field.
    """

    def __init__(self, raw: RawReader | BinaryIO, base_offset: int = 0) -> None:
        self._raw: RawReader = raw if hasattr(raw, "skip") else FileRaw(raw)  # type: ignore[arg-type]
        self.buf = b""
        self.pos = 0
        self.base = base_offset  # absolute offset of buf[0]
        self._ended = False

    @classmethod
    def from_bytes(cls, data: bytes, base_offset: int = 0) -> ByteSource:
        return cls(io.BytesIO(data), base_offset)

    def tell(self) -> int:
        return self.base + self.pos

    def _available(self) -> int:
        return len(self.buf) - self.pos

    def _fill(self, n: int) -> bool:
        """Make at least ``n`` bytes available; False when the source ends first."""
        if self._available() >= n:
            return True
        if self._ended:
            return False
        rest = self.buf[self.pos :]
        self.base += self.pos
        parts = [rest]
        have = len(rest)
        while have < n:
            got = self._raw.read(max(CHUNK, n - have))
            if not got:
                self._ended = True  # files, windows and decompressors do not grow back
                break
            parts.append(got)
            have += len(got)
        self.buf = b"".join(parts)
        self.pos = 0
        return have >= n

    def buffered(self, n: int) -> tuple[bytes, int, int]:
        """``(buf, pos, base)`` with ``n`` bytes after ``pos`` when the source still has them."""
        if len(self.buf) - self.pos < n:
            self._fill(n)
        return self.buf, self.pos, self.base

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return self.buf[self.pos : self.pos + n]

    def at_eof(self) -> bool:
        return not self._fill(1)

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or :class:`Truncated`. Callers bound ``n`` before asking."""
        if n <= self._available() or self._fill(n):
            data = self.buf[self.pos : self.pos + n]
            self.pos += n
            return data
        got = self._available()
        self.pos = len(self.buf)
        raise Truncated(f"needed {n} bytes at offset {self.tell() - got}, stream ended after {got}")

    def read_byte(self) -> int:
        if self.pos < len(self.buf) or self._fill(1):
            b = self.buf[self.pos]
            self.pos += 1
            return b
        raise Truncated(f"stream ended at offset {self.tell()}")

    def read_upto(self, n: int) -> bytes:
        self._fill(min(n, CHUNK))
        data = self.buf[self.pos : self.pos + n]
        self.pos += len(data)
        return data

    def skip_upto(self, n: int) -> int:
        buffered = min(n, self._available())
        self.pos += buffered
        if buffered == n:
            return n
        # Buffer is exhausted: hand the rest of the skip to the raw reader.
        self.base += self.pos
        self.buf = b""
        self.pos = 0
        done = self._raw.skip(n - buffered)
        self.base += done
        return buffered + done

    def skip(self, n: int) -> None:
        done = self.skip_upto(n)
        if done < n:
            raise Truncated(f"a payload of {n} bytes ends after {done} bytes, at offset {self.tell()}")

    def readline(self, max_len: int) -> bytes:
        """Bytes up to and excluding the next newline; Truncated past ``max_len`` or at the end."""
        start = self.pos
        while True:
            nl = self.buf.find(b"\n", start)
            if nl >= 0:
                line = self.buf[self.pos : nl]
                if len(line) > max_len:
                    raise Truncated(f"a text line longer than {max_len} bytes at offset {self.tell()}")
                self.pos = nl + 1
                return line
            if self._available() > max_len:
                raise Truncated(f"a text line longer than {max_len} bytes at offset {self.tell()}")
            scanned = self._available()
            if not self._fill(scanned + 1):
                raise Truncated(f"a text line is not terminated before the end, at offset {self.tell()}")
            start = self.pos + scanned

    def rest_of_line(self, max_len: int) -> bytes | None:
        """What is left of the source (consumed) when it ends within ``max_len`` bytes without a newline;
        None (nothing consumed) otherwise."""
        if self._fill(max_len + 1) or b"\n" in self.buf[self.pos :]:
            return None
        rest = self.buf[self.pos :]
        self.pos = len(self.buf)
        return rest

    def drain(self) -> int:
        """Consume whatever is left (of a window: up to its end); returns the bytes skipped."""
        total = 0
        while True:
            done = self.skip_upto(1 << 62)
            total += done
            if done == 0 or self.at_eof():
                return total

    def window(self, n: int) -> ByteSource:
        """A source over the next ``n`` bytes; reading it advances this one."""
        return ByteSource(_WindowRaw(self, n), base_offset=self.tell())


class Recording:
    """Reads a source forward while keeping a copy of what was read (in memory up to 16 MiB, then in a
    temporary file), so that a second reading can start again from the beginning: the same bytes read by
    two loaders that interpret them differently (plain pickle and joblib), without seeking the source."""

    def __init__(self, src: ByteSource, max_bytes: int) -> None:
        import tempfile

        self._src = src
        self._copy = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 - closed in close()
        self._left = max_bytes
        self.overflowed = False
        """More than ``max_bytes`` were read: the copy is incomplete and cannot be read again."""

    def read(self, n: int) -> bytes:
        data = self._src.read_upto(n)
        self._left -= len(data)
        if self._left < 0:
            self.overflowed = True
        elif data:
            self._copy.write(data)
        return data

    def skip(self, n: int) -> int:
        return skip_by_reading(self.read, n)

    def again(self) -> ByteSource | None:
        """A source over the same bytes from the start (the copy, then whatever the first reading left), or
        None when the copy overflowed."""
        if self.overflowed:
            return None
        self._copy.seek(0)
        return ByteSource(_Replay(self._copy, self._src))

    def close(self) -> None:
        self._copy.close()


class _Replay:
    def __init__(self, copy: IO[bytes], rest: ByteSource) -> None:
        self._copy, self._rest = copy, rest

    def read(self, n: int) -> bytes:
        return self._copy.read(n) or self._rest.read_upto(n)

    def skip(self, n: int) -> int:
        here = self._copy.tell()
        end = self._copy.seek(0, io.SEEK_END)
        target = min(here + n, end)
        self._copy.seek(target)
        done = target - here
        return done + (self._rest.skip_upto(n - done) if done < n else 0)
