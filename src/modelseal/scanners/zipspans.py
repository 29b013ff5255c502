"""Where each zip member's bytes lie, read from its local header and checked, so that stored members can
be read in place (at their data offset, without ``zipfile``'s copy and CRC pass).

Readers disagree on a zip whose local headers contradict the central directory or whose members share
bytes, so a span is usable only when nothing is wrong with it: its local header is where the directory
says, names the same member with the same method, sizes and read flags, a stored member's two sizes are
equal, its data lies inside the file, and no other member's header or data overlaps it. Anything else is a
``problem`` (reported by the zip scanner, which then reads the member as each reader may; never read in
place).

It also finds the central directory where ``zipfile`` does (:func:`end_record`) and checks it against the
member limit before any reader takes it whole (:func:`unbounded_directory`; ``plainzip.listing`` for readers
that try the plain reader first).
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Sequence
from typing import IO, Any, NamedTuple

from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource, FileRaw

LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
CENTRAL_HEADER = struct.Struct("<4sHHHHHHIIIHHHHHII")
_CENTRAL_LENGTHS = struct.Struct("<HHH")  # an entry's name, extra field and comment, at offset 28
LOCAL_SIG = b"PK\x03\x04"
READ_FLAGS = 0x61
"""The flag bits that change how a reader reads the data: encrypted, patched, strongly encrypted."""
HEAD_BYTES = 6
"""Data bytes kept in :attr:`Span.head`: enough for the ``.npy`` magic."""
_SLACK = 128
"""Bytes read past a local header's name for its extra field and the data's head (torch pads each
storage to 64 bytes with an extra field)."""


_ZIP64_RECORDS = zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator  # type: ignore[attr-defined]


Place = tuple[int, list[Any]]
"""Where ``zipfile`` reads an archive's central directory, and the end record it reads it by."""


def end_record(f: IO[bytes]) -> Place | None:
    """Where ``zipfile`` reads the central directory, and the end record it reads it by (its
    ``_EndRecData``: signature, disk, disk of the directory, entries on this disk, entries, directory size,
    declared offset, comment size, comment, position of the record), or None where it finds no end record.
    zipfile takes a directory that ends elsewhere than just before the end record (and the zip64 records
    that torch always writes) to follow bytes prepended to the archive."""
    try:
        end = zipfile._EndRecData(f)  # type: ignore[attr-defined]
    except (OSError, zipfile.BadZipFile):
        return None
    if not end:
        return None
    records = _ZIP64_RECORDS if end[0] == zipfile.stringEndArchive64 else 0  # type: ignore[attr-defined]
    return end[9] - records - end[5], end


_ENTRY_BYTES = 1024
"""Central directory bytes per member allowed for (entries of real archives take 50-150)."""


def oversized_directory(place: Place, limits: Limits) -> str:
    """Why no reader may read the central directory at ``place`` whole, or ``""``: it is larger than
    ``limits.max_members`` entries need."""
    size, most = place[1][5], limits.max_members * _ENTRY_BYTES
    return (
        f"a central directory of {size} bytes, over the {most} allowed for {limits.max_members} members"
        if size > most
        else ""
    )


def too_many_entries(f: IO[bytes], place: Place, limits: Limits) -> str:
    """Why zipfile must not read the central directory at ``place``, or ``""``: it holds more entries than
    the member limit. zipfile reads the whole directory and makes an object per entry before anything can
    count them (a 135 MB zip of 1.5 M empty members took 779 MB), so they are counted here first, up to
    the limit, entry by entry."""
    try:
        f.seek(max(place[0], 0))
        src = ByteSource(FileRaw(f)).window(place[1][5])  # type: ignore[arg-type]
        for _ in range(limits.max_members + 1):
            head = src.read_upto(CENTRAL_HEADER.size)
            if len(head) < CENTRAL_HEADER.size or head[:4] != b"PK\x01\x02":
                return ""  # where zipfile stops reading entries
            src.skip_upto(sum(_CENTRAL_LENGTHS.unpack_from(head, 28)))
    except (OSError, ValueError):
        return ""
    return f"more than {limits.max_members} members"


def unbounded_directory(f: IO[bytes], limits: Limits) -> str:
    """Why this archive's central directory must not be handed to ``zipfile``, or ``""``."""
    place = end_record(f)
    return "" if place is None else oversized_directory(place, limits) or too_many_entries(f, place, limits)


class Span(NamedTuple):
    """One member's place: its local header at ``header``, its stored bytes at ``data`` for ``size``."""

    info: zipfile.ZipInfo
    header: int
    data: int
    size: int
    problem: str
    """Why the span cannot be trusted; empty when it can."""
    head: bytes | None = None
    """The data's first :data:`HEAD_BYTES` (fewer in a shorter member), when they came with the local
    header's read (a checkpoint's storages are sniffed without a read each)."""

    @property
    def in_place(self) -> bool:
        """Readable as raw bytes at ``data``: sound and stored uncompressed."""
        return not self.problem and self.info.compress_type == zipfile.ZIP_STORED


def _local(f: IO[bytes], info: zipfile.ZipInfo, file_size: int) -> tuple[int, str, bytes]:
    """The data offset of ``info`` from its local header, what contradicts the central directory, and
    the data's head as far as the one read of the header reached (see :attr:`Span.head`)."""
    if not 0 <= info.header_offset < file_size:
        return -1, f"local header offset {info.header_offset} lies outside the file", b""
    f.seek(info.header_offset)
    central = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace")
    named = LOCAL_HEADER.size + len(central)
    raw = f.read(named + _SLACK)
    if len(raw) < LOCAL_HEADER.size:
        return -1, "local header is cut off", b""
    sig, _, flags, method, _, _, crc, csize, usize, name_len, extra_len = LOCAL_HEADER.unpack_from(raw)
    if sig != LOCAL_SIG:
        return -1, "no local header where the central directory points", b""
    if name_len != len(central) or not raw.startswith(central, LOCAL_HEADER.size):
        f.seek(info.header_offset + LOCAL_HEADER.size)
        local_name = f.read(min(name_len, 80))
        return -1, f"local name {local_name[:80]!r} differs from central name {central[:80]!r}", b""
    if method != info.compress_type or (flags ^ info.flag_bits) & READ_FLAGS:
        return -1, "local compression method or flags differ from the central directory", b""
    sized = not flags & 0x08 and csize != 0xFFFFFFFF and usize != 0xFFFFFFFF
    if sized and (crc, csize, usize) != (info.CRC, info.compress_size, info.file_size):
        return -1, "local sizes or CRC differ from the central directory", b""
    data = info.header_offset + LOCAL_HEADER.size + name_len + extra_len
    stored = info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1
    if stored and info.compress_size != info.file_size:  # zipfile reads the smaller, torch's miniz the other
        return data, "stored member's compressed and uncompressed sizes differ", b""
    if data + info.compress_size > file_size:
        return data, "member data runs past the end of the file", b""
    start = named + extra_len
    return data, "", raw[start : start + min(HEAD_BYTES, info.compress_size)]


def member_spans(f: IO[bytes], infos: Sequence[zipfile.ZipInfo]) -> list[Span]:
    """The span of each member of ``infos``, in their order, with overlaps marked as problems."""
    file_size = f.seek(0, 2)
    spans = []
    for info in infos:
        try:
            data, problem, head = _local(f, info, file_size)
        except OSError as exc:
            data, problem, head = -1, f"local header cannot be read: {exc}", b""
        # a head cut short by the read (not by the member's end) is no head
        whole = len(head) == min(HEAD_BYTES, info.compress_size) and not problem
        spans.append(
            Span(info, info.header_offset, data, info.compress_size, problem, head if whole else None)
        )
    end, last = -1, -1  # the furthest end of the members before, and which member reaches it
    for i in sorted(range(len(spans)), key=[span.header for span in spans].__getitem__):
        span = spans[i]
        if span.header < end:
            for one, other in ((i, last), (last, i)):
                why = f"its bytes overlap member {spans[other].info.filename[:80]!r}"
                spans[one] = spans[one]._replace(problem=spans[one].problem or why)
        if span.data + span.size > end:
            end, last = span.data + span.size, i
    return spans
