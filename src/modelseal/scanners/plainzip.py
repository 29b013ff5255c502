"""The members of a plain archive in one compiled pass: what ``torch.save`` and ``numpy.savez`` write.

A checkpoint may hold tens of thousands of tensor storages. Reading its central directory through
``zipfile`` (an object per member) and then each local header in Python costs more than judging the
pickle does. Most archives are *plain*, and for those every reader sees the same members and the zip
scanner's reference path finds nothing wrong with their structure, so one pass in C can list them:

- the central directory lies exactly where it says and
  holds exactly the number of entries it says, within the scanner's member limit;
- every member is stored (not compressed, not encrypted; flags only a data descriptor and UTF-8), needs
  a version zipfile reads, has no extra field in the directory, and is named in printable ASCII without
  a backslash (one string for every reader and name encoding);
- its local header is where the directory points and agrees with it (name, method, read flags, and CRC
  and sizes where the header carries them), its data lies inside the file and before the directory, and
  no member's header lies inside another's bytes.

Anything else, or a source that is neither a file on disk nor in memory, or a module that was not built
(a C compiler is optional), gives None and the scanner reads the archive the reference way, through
``zipfile`` and :func:`~modelseal.scanners.zipspans.member_spans`, which also reports what is wrong.
``tests/scanners/test_plainzip.py`` holds the two paths to the same members and the same findings on real
and mutated archives.
"""

from __future__ import annotations

import io
from typing import IO

from modelseal.core.limits import Limits
from modelseal.scanners.native import built
from modelseal.scanners.zipspans import Place, end_record, oversized_directory, too_many_entries

_REVISION = 1
"""The ``REVISION`` of ``_plainzip.c`` this module goes with: a module built from another is stale."""

PlainMember = tuple[str, int, int, bytes]
"""A member's name, data offset, size (stored: as read) and first bytes (up to six, for the ``.npy``
magic). Plain tuples: a checkpoint has tens of thousands."""


COMPILED = built("modelseal.scanners._plainzip", _REVISION, "Archives are read through zipfile meanwhile.")


def _where(f: IO[bytes]) -> int | memoryview | None:
    """What the reader reads ``f``'s bytes from: a file's descriptor, or an in-memory file's buffer."""
    if isinstance(f, io.BytesIO):
        return f.getbuffer()
    if isinstance(f, io.BufferedReader) and isinstance(f.raw, io.FileIO):
        return f.fileno()
    return None  # a spooled or wrapped file: reading its descriptor could see other bytes


def members(f: IO[bytes], max_members: int | None = None) -> list[PlainMember] | None:
    """The members of ``f`` in directory order when the archive is plain (see the module) and has at most
    ``max_members`` (the zip scanner's limit, past which its reference path reports the rest unread),
    else None."""
    place = end_record(f)
    return None if place is None else _members(f, place, max_members)


def listing(f: IO[bytes], limits: Limits) -> tuple[list[PlainMember] | None, str]:
    """What a reader of ``f``'s members needs first: the members when the archive is plain, and otherwise
    why its central directory must not be handed to ``zipfile`` (``""`` when it may be). The end record is
    read once; a directory too large for the member limit is read by no one, the plain reader included."""
    place = end_record(f)
    if place is None:
        return None, ""
    if why := oversized_directory(place, limits):
        return None, why
    found = _members(f, place, limits.max_members)
    return (found, "") if found is not None else (None, too_many_entries(f, place, limits))


def _members(f: IO[bytes], place: Place, max_members: int | None) -> list[PlainMember] | None:
    if COMPILED is None:
        return None
    start, end = place
    count, size = end[4], end[5]
    if end[1] or end[2] or end[3] != count or count > (max_members or count) or start != end[6]:
        return None  # a multi-disk archive, too many members, or bytes before the directory
    try:
        f.seek(start)
        directory = f.read(size)
    except (OSError, ValueError):
        return None
    if len(directory) != size or (where := _where(f)) is None:
        return None
    try:
        found: list[PlainMember] | None = COMPILED.members(where, directory, count, start)
        return found
    finally:
        if isinstance(where, memoryview):
            where.release()
