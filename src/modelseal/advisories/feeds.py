"""Where advisories come from: a URL, a local JSON file, a zip (OSV's ``<Ecosystem>/all.zip`` dumps), or a
folder of OSV JSON (a git checkout of an advisory database included; ``.git`` is skipped).

Every read is bounded: a document past :data:`MAX_DOCUMENT_BYTES`, a download past :data:`MAX_DOWNLOAD_BYTES`
or a zip member that claims more is rejected by name, before it is held in memory.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelseal.advisories.osv import Advisory, FeedError, parse

MAX_DOCUMENT_BYTES = 16 << 20
"""One JSON document (a record, or a list of records in one file)."""
MAX_DOWNLOAD_BYTES = 1 << 30
"""One URL; OSV's PyPI dump is a few tens of MiB."""
TIMEOUT_S = 60.0


def read_feed(source: str) -> Iterator[Advisory]:
    """Every record of ``source``, read and checked one at a time (a dump of a million records is never
    held whole). Raises :class:`FeedError` naming the file and field; callers treat a source as
    all-or-nothing."""
    for origin, doc in _documents(source):
        yield parse(doc, origin)


def _documents(source: str) -> Iterator[tuple[str, Any]]:
    for origin, data in _raw(source):
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FeedError(origin, "(document)", f"not JSON ({exc})") from None
        if isinstance(doc, list):
            yield from ((f"{origin}[{i}]", item) for i, item in enumerate(doc))
        else:
            yield origin, doc


def _raw(source: str) -> Iterator[tuple[str, bytes]]:
    if source.startswith(("http://", "https://")):
        data = _download(source)
        if data.startswith(b"PK"):
            yield from _zip_members(source, _in_memory_zip(source, data))
        else:
            yield source, _bounded(source, data)
        return
    path = Path(source)
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*.json") if ".git" not in p.relative_to(path).parts):
            yield str(file), _read_file(file)
    elif path.is_file():
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                yield from _zip_members(source, archive)
        else:
            yield source, _read_file(path)
    else:
        raise FeedError(source, "(source)", "no such file, folder or http(s) URL")


def _bounded(origin: str, data: bytes) -> bytes:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise FeedError(origin, "(document)", f"larger than {MAX_DOCUMENT_BYTES} bytes")
    return data


def _read_file(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return _bounded(str(path), fh.read(MAX_DOCUMENT_BYTES + 1))
    except OSError as exc:
        raise FeedError(str(path), "(document)", f"cannot read ({exc.strerror})") from None


def _in_memory_zip(origin: str, data: bytes) -> zipfile.ZipFile:
    import io

    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise FeedError(origin, "(archive)", f"not a zip ({exc})") from None


def _zip_members(origin: str, archive: zipfile.ZipFile) -> Iterator[tuple[str, bytes]]:
    for info in archive.infolist():
        if info.is_dir() or not info.filename.endswith(".json"):
            continue
        where = f"{origin}!/{info.filename}"
        if info.file_size > MAX_DOCUMENT_BYTES:
            raise FeedError(where, "(document)", f"larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            with archive.open(info) as member:
                yield where, _bounded(where, member.read(MAX_DOCUMENT_BYTES + 1))
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise FeedError(where, "(archive)", f"cannot read ({exc})") from None


def _download(url: str) -> bytes:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "modelseal-advisories"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            data: bytes = response.read(MAX_DOWNLOAD_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FeedError(url, "(download)", f"cannot fetch ({exc})") from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise FeedError(url, "(download)", f"larger than {MAX_DOWNLOAD_BYTES} bytes")
    return data
