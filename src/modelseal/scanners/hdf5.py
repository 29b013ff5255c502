"""HDF5 files read with pyfive, a pure-Python reader, when h5py (a C library) is not installed.

The walk looks at object headers, never at dataset values: the Keras configuration attributes, and every
link or storage kind that makes a reader open bytes outside the file (external links, external raw storage,
virtual datasets). Links and layouts are decoded here from the header messages, so that kinds pyfive does
not follow itself are reported, not skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import IO, Any

from modelseal.core.findings import Finding, Location
from modelseal.core.rules import make_finding

LINK_INFO, LINK, EXTERNAL_FILES, LAYOUT, SYMBOL_TABLE = 0x0002, 0x0006, 0x0007, 0x0008, 0x0011
HARD, SOFT, EXTERNAL = 0, 1, 64
MAX_NAME = 4096

AttrFindings = Callable[[dict[str, Any]], list[Finding]]


class Hdf5Error(ValueError):
    """The file's object headers cannot be decoded."""


def _link(data: bytes, at: int) -> tuple[str, int, bytes]:
    """Decode one link message: its name, type and target (an address for a hard link, else the value)."""
    try:
        version, flags = data[at], data[at + 1]
        if version != 1:
            raise Hdf5Error(f"link message version {version}")
        pos = at + 2
        kind = HARD
        if flags & 0x08:
            kind = data[pos]
            pos += 1
        if flags & 0x04:
            pos += 8  # creation order
        if flags & 0x10:
            pos += 1  # character set
        width = 1 << (flags & 3)
        length = int.from_bytes(data[pos : pos + width], "little")
        pos += width
        name = data[pos : pos + min(length, MAX_NAME)].decode("utf-8", "replace")
        pos += length
        if kind == HARD:
            return name, kind, data[pos : pos + 8]
        size = struct.unpack_from("<H", data, pos)[0]
        return name, kind, data[pos + 2 : pos + 2 + min(size, MAX_NAME)]
    except (IndexError, struct.error) as exc:
        raise Hdf5Error(f"link message cut off: {exc}") from None


def _external_target(value: bytes) -> str:
    """An external link's value: a flags byte, then the file name and the object path, NUL-terminated."""
    parts = value[1:].split(b"\0")
    file = parts[0].decode("utf-8", "replace")
    path = parts[1].decode("utf-8", "replace") if len(parts) > 1 else ""
    return f"{file}:{path}"


def _heap_string(fh: IO[bytes], heap: int, offset: int) -> str:
    """A NUL-terminated name in a local heap (the external file list keeps its file names there)."""
    fh.seek(heap)
    header = fh.read(32)
    if header[:4] != b"HEAP" or len(header) < 32:
        return "?"
    data_address = struct.unpack_from("<Q", header, 24)[0]
    fh.seek(data_address + offset)
    return fh.read(256).split(b"\0", 1)[0].decode("utf-8", "replace")


def _external_files(fh: IO[bytes], data: bytes, at: int) -> list[str]:
    try:
        used, heap = struct.unpack_from("<H", data, at + 6)[0], struct.unpack_from("<Q", data, at + 8)[0]
        names = []
        for i in range(min(used, 8)):
            name_offset = struct.unpack_from("<Q", data, at + 16 + 24 * i)[0]
            names.append(_heap_string(fh, heap, name_offset))
        return names or ["?"]
    except (struct.error, OSError):
        return ["?"]


def _layout_class(data: bytes, at: int) -> int:
    version = data[at]
    return data[at + 2] if version < 3 else data[at + 1]


class Walker:
    """Visits every object reachable from the root group once (hard links may form cycles)."""

    def __init__(self, fh: IO[bytes], max_objects: int) -> None:
        # pyfive's File and Group list their links on construction and stop at an external one, so the
        # superblock and object headers are opened here with its low-level classes.
        from pyfive.dataobjects import DataObjects  # pure Python; imports numpy
        from pyfive.high_level import File
        from pyfive.misc_low_level import SuperBlock
        from pyfive.utilities import HDF5OffsetWrapper

        at = File._find_superblock_offset(fh)
        base = SuperBlock(fh, at)._contents["base_address"]
        if base:
            fh, at = HDF5OffsetWrapper(fh, base), at - base
        self.fh = fh
        self.root = SuperBlock(fh, at).offset_to_dataobjects
        self.heaps: dict[int, Any] = {}
        self.open: Callable[[int], Any] = lambda address: DataObjects(fh, address, global_heaps=self.heaps)
        self.max_objects = max_objects
        self.findings: list[Finding] = []

    def _objects(self) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        stack: list[tuple[str, int]] = [("", self.root)]
        while stack:
            path, address = stack.pop()
            if address in seen:
                continue
            seen.add(address)
            if len(seen) > self.max_objects:
                self.findings.append(
                    make_finding("MS-LIMIT-EXCEEDED", f"more than {self.max_objects} HDF5 objects")
                )
                return
            obj = self.open(address)
            yield path or "/", obj
            for name, target in self._links(path, obj):
                if isinstance(target, int):  # soft links (a path string) lead to objects reached anyway
                    stack.append((f"{path}/{name}", target))

    def _links(self, path: str, obj: Any) -> Iterator[tuple[str, int]]:
        for msg in obj.msgs:
            kind = msg["type"]
            if kind == SYMBOL_TABLE:
                yield from obj._iter_links_from_symbol_tables(msg)
            elif kind == LINK:
                name, link_type, target = _link(obj.msg_data, msg["offset_to_message"])
                if link_type == HARD:
                    yield name, int.from_bytes(target, "little")
                elif link_type != SOFT:
                    self._external_link(f"{path}/{name}", link_type, target)
            elif kind == LINK_INFO:
                try:
                    yield from obj._iter_link_from_link_info_msg(msg)
                except AssertionError:  # pyfive follows hard and soft links only
                    self._outside(
                        path or "/",
                        f"group {path or '/'} holds a link that is neither hard nor soft (external or "
                        "user-defined) in its dense link storage",
                    )

    def _outside(self, path: str, message: str, evidence: str = "") -> None:
        """Something a reader of this object would fetch from outside the file."""
        self.findings.append(
            make_finding("MS-HDF5-EXTERNAL", message, location=Location(tensor=path), evidence=evidence[:200])
        )

    def _external_link(self, full: str, link_type: int, target: bytes) -> None:
        where = _external_target(target) if link_type == EXTERNAL else f"user-defined link type {link_type}"
        self._outside(full, f"{full} links to {where}", where)

    def _storage(self, path: str, obj: Any) -> None:
        for msg in obj.msgs:
            at = msg["offset_to_message"]
            if msg["type"] == EXTERNAL_FILES:
                files = ", ".join(_external_files(self.fh, obj.msg_data, at))
                self._outside(path, f"dataset {path} stores its data in {files}", files)
            elif msg["type"] == LAYOUT and _layout_class(obj.msg_data, at) == 3:
                self._outside(
                    path,
                    f"dataset {path} is virtual: its values are mapped from other datasets, possibly in "
                    "other files",
                )

    def walk(self, attr_findings: AttrFindings) -> tuple[list[Finding], bool]:
        """Findings, and whether the root carries a Keras ``model_config``."""
        keras = False
        for path, obj in self._objects():
            if path == "/":
                attrs = obj.get_attributes()
                root = {k: attrs[k] for k in ("model_config", "training_config") if k in attrs}
                self.findings.extend(attr_findings(root))
                keras = "model_config" in root
            self._storage(path, obj)
        return self.findings, keras
