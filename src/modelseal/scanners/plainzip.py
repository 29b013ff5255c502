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
import zipfile
from typing import IO

from modelseal.scanners.native import built

_REVISION = 1
"""The ``REVISION`` of ``_plainzip.c`` this module goes with: a module built from another is stale."""

_ZIP64_RECORDS = zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator  # type: ignore[attr-defined]

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
    if COMPILED is None or (where := _where(f)) is None:
        return None
    try:
        end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # found as zipfile finds it
        if not end:
            return None
        count, size, at = end[4], end[5], end[6]
        # torch writes a zip64 end record (and its locator) after the directory whatever the size
        records = _ZIP64_RECORDS if end[0] == zipfile.stringEndArchive64 else 0  # type: ignore[attr-defined]
        if (
            end[1]
            or end[2]
            or end[3] != count
            or count > (max_members or count)
            or end[9] - records - size != at
        ):
            return None  # a multi-disk archive, too many members, or bytes before the directory
        f.seek(at)
        directory = f.read(size)
        if len(directory) != size:
            return None
        found: list[PlainMember] | None = COMPILED.members(where, directory, count, at)
        return found
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    finally:
        if isinstance(where, memoryview):
            where.release()
