"""Zip containers: plain zips, PyTorch checkpoints (``torch.save``), TorchScript archives and ``.npz``.

Every member is checked for the tricks that make readers disagree (duplicate names, local headers that
contradict the central directory, names that escape the folder, encryption, bombs), then sniffed and
scanned by content, as every loader that may be given the file reads it. torch finds its records
case-insensitively under the folder of the first member: in PyTorch archives every ``.pkl`` member is a
pickle whatever it looks like, tensor storages under ``data/`` are raw bytes that torch never unpickles
(skipped unless they start like an ``.npy``, which ``numpy.load`` of the same zip would read, object arrays
included), and ``code/`` holds TorchScript.
"""

from __future__ import annotations

import lzma
import posixpath
import zipfile
import zlib
from collections import Counter
from typing import IO

from modelseal.core.findings import Finding, Location
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource, FileRaw, FileWindow
from modelseal.scanners import plainzip
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.keras import KERAS_CONFIG_MEMBERS, keras_zip_member
from modelseal.scanners.pickle.allowlist import Allowlist
from modelseal.scanners.pickle.scanner import allowlist_of, scan_pickle_stream
from modelseal.scanners.repofiles import unsafe_member_name
from modelseal.scanners.signatures import npy
from modelseal.scanners.torchscript import scan_torchscript_code
from modelseal.scanners.torchstorages import StorageTypes, checkpoint_pickle
from modelseal.scanners.zipspans import (
    CENTRAL_HEADER,
    HEAD_BYTES,
    LOCAL_HEADER,
    LOCAL_SIG,
    Span,
    end_record,
    member_spans,
)


def _layout(names: list[str]) -> str:
    lowered = [n.lower() for n in names]
    pkl = [n for n in lowered if n.endswith("/data.pkl") or n == "data.pkl"]
    if pkl:
        prefix = posixpath.dirname(pkl[0])
        code, constants = f"{prefix}/code/", f"{prefix}/constants.pkl"
        if any(n.startswith(code) or n == constants for n in lowered):
            return "torchscript"
        return "pytorch-zip"
    if names and all(n.endswith(".npy") for n in names if not n.endswith("/")):
        return "npz"
    if "config.json" in names and "metadata.json" in names:
        return "keras"
    return "zip"


def _is_storage(name: str, fmt: str) -> bool:
    if fmt not in ("pytorch-zip", "torchscript"):
        return False
    parts = name.lower().rsplit("/", 2)
    return len(parts) == 3 and parts[1] == "data" and parts[2].isdigit()


_MEMBER_ERRORS = (
    zipfile.BadZipFile,
    NotImplementedError,
    OSError,
    RuntimeError,
    ValueError,
    EOFError,
    zlib.error,  # a member whose data does not inflate by the method the directory names
    lzma.LZMAError,
)


def _starts_like_npy(zf: zipfile.ZipFile, f: IO[bytes], span: Span) -> bool:
    """``numpy.load`` of a zip reads any member that starts with the ``.npy`` magic as an array. A stored
    member is looked at in place (a checkpoint may hold tens of thousands of them)."""
    if span.in_place:
        if span.head is not None:
            return npy(span.head)
        f.seek(span.data)
        return npy(f.read(min(HEAD_BYTES, span.size)))
    try:
        with zf.open(span.info) as member:
            return npy(member.read(6))
    except _MEMBER_ERRORS:
        return True  # unreadable here: scanning it reports why


_Entry = tuple[str, int, int, int]  # name, method, data offset, stored size


def _local_members(f: IO[bytes], ctx: ScanContext) -> list[Finding]:
    """A zip whose central directory is damaged may still be read by readers that walk the local headers
    from the start (torch's reader gets through some such damage): scan the members they would find."""
    entries: list[_Entry] = []
    pos = 0
    while len(entries) < ctx.limits.max_members:
        f.seek(pos)
        raw = f.read(LOCAL_HEADER.size)
        if len(raw) < LOCAL_HEADER.size or raw[:4] != LOCAL_SIG:
            break
        _, _, flags, method, _, _, _, csize, _, name_len, extra_len = LOCAL_HEADER.unpack(raw)
        name = f.read(name_len).decode("utf-8" if flags & 0x800 else "cp437", "replace")
        data_at = pos + LOCAL_HEADER.size + name_len + extra_len
        entries.append((name, method, data_at, csize))
        pos = data_at + csize
    return _scan_entries(f, entries, ctx)


def _declared_directory(f: IO[bytes], offset: int, ctx: ScanContext) -> list[_Entry]:
    """The members of the central directory where the end record places it. zipfile takes a directory
    found elsewhere to follow bytes prepended to the archive and moves every offset by as many; torch's
    miniz reads the directory at the declared offset, which may be another one."""
    entries: list[_Entry] = []
    while len(entries) < ctx.limits.max_members:
        f.seek(offset)
        raw = f.read(CENTRAL_HEADER.size)
        if len(raw) < CENTRAL_HEADER.size or raw[:4] != b"PK\x01\x02":
            break
        fields = CENTRAL_HEADER.unpack(raw)
        flags, method, csize, usize, name_len, extra_len, comment_len = fields[3:5] + fields[8:13]
        name = f.read(name_len).decode("utf-8" if flags & 0x800 else "cp437", "replace")
        offset += CENTRAL_HEADER.size + name_len + extra_len + comment_len
        f.seek(fields[16])
        local = f.read(LOCAL_HEADER.size)
        if len(local) == LOCAL_HEADER.size and local[:4] == LOCAL_SIG:
            data_at = fields[16] + LOCAL_HEADER.size + sum(LOCAL_HEADER.unpack(local)[-2:])
            entries.append((name, method, data_at, usize if method == zipfile.ZIP_STORED else csize))
    return entries


def _scan_entries(f: IO[bytes], entries: list[_Entry], ctx: ScanContext) -> list[Finding]:
    """Members found without zipfile, each read by its own method and size."""
    fmt = _layout([e[0] for e in entries])
    allow = allowlist_of(ctx)
    out: list[Finding] = []
    for name, method, data_at, size in entries:
        if not _is_storage(name, fmt):
            out.extend(_read_at(f, (data_at, method, size), name, fmt, allow, ctx))
    return out


def _read_at(
    f: IO[bytes], window: tuple[int, int, int], name: str, fmt: str, allow: Allowlist, ctx: ScanContext
) -> list[Finding]:
    """The findings on a member's content read from ``window`` (data offset, method, stored size), or on
    why it cannot be read (nothing for a method other than stored or deflated)."""
    data_at, method, size = window
    try:
        src = _member_data(f, data_at, size, method, ctx)
        return [] if src is None else _content(ScanInput(src, name, None), fmt, allow, ctx)
    except _MEMBER_ERRORS as exc:
        why = f"member {name!r} cannot be read: {exc}"
        return [make_finding("MS-ARCHIVE-MALFORMED", why, location=Location(name))]


def _declared_offset(f: IO[bytes]) -> int | None:
    """Where the end record (found as zipfile finds it) places the central directory."""
    place = end_record(f)
    return None if place is None else int(place[1][6])


def _moved_directory(zf: zipfile.ZipFile, f: IO[bytes], ctx: ScanContext) -> list[Finding]:
    """Findings on the directory torch reads when zipfile read the central directory somewhere else."""
    declared = _declared_offset(f)
    if declared is None or declared == zf.start_dir:
        return []
    why = (
        f"the central directory lies at {zf.start_dir}, the end record says {declared}: zipfile reads one,"
        " torch's reader the other (both were scanned)"
    )
    return [
        make_finding("MS-ZIP-HEADER-MISMATCH", why),
        *_scan_entries(f, _declared_directory(f, declared, ctx), ctx),
    ]


def _without_zipfile(f: IO[bytes], ctx: ScanContext) -> list[Finding]:
    """A zip that zipfile cannot open, read as the readers that still can: walking the local headers, and
    by the directory where the end record places it (torch's miniz, which uses the central method and
    sizes whatever the local headers say)."""
    out = _local_members(f, ctx)
    declared = _declared_offset(f)
    if declared is not None:
        out.extend(x for x in _scan_entries(f, _declared_directory(f, declared, ctx), ctx) if x not in out)
    return out


class ZipScanner(Scanner):
    format = "zip"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        f = ctx.seekable(item)
        plain, why = plainzip.listing(f, ctx.limits)
        if plain is not None:
            return _scan_plain(plain, f, ctx)
        if why:
            # read as the readers that stop at the limit do, each entry read on its own
            limit = make_finding(
                "MS-LIMIT-EXCEEDED", f"{why}; only the first {ctx.limits.max_members} were analysed"
            )
            return ScanOutcome("zip", (limit, *_without_zipfile(f, ctx)))
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError) as exc:
            # NotImplementedError: a member's "version needed" is past what zipfile reads; torch ignores it
            damaged = make_finding("MS-ARCHIVE-MALFORMED", f"zip cannot be opened: {exc}")
            return ScanOutcome("zip", (damaged, *_without_zipfile(f, ctx)))
        with zf:
            outcome = self._scan_members(zf, f, ctx)
            moved = _moved_directory(zf, f, ctx)
            return ScanOutcome(outcome.format, (*outcome.findings, *moved)) if moved else outcome

    def _scan_members(self, zf: zipfile.ZipFile, f: IO[bytes], ctx: ScanContext) -> ScanOutcome:
        infos = zf.infolist()
        limits = ctx.limits
        findings: list[Finding] = []
        if len(infos) > limits.max_members:
            findings.append(
                make_finding(
                    "MS-LIMIT-EXCEEDED",
                    f"{len(infos)} members; only the first {limits.max_members} were analysed",
                )
            )
            infos = infos[: limits.max_members]
        names = [i.filename for i in infos]
        fmt = _layout(names)
        findings.extend(_duplicates(names))
        allow = _allowlist(fmt, ctx)
        spans = member_spans(f, infos)
        del infos, names
        # Tensor storages first, each let go of when done (zf.open(info) needs neither of zipfile's lists):
        # the tens of thousands of a checkpoint are freed before its pickle, the member that costs memory,
        # is read. Findings keep the members' order.
        zf.filelist.clear()
        zf.NameToInfo.clear()
        found: dict[int, list[Finding]] = {}

        def guarded(span: Span, storage: bool) -> list[Finding]:
            try:
                return self._member(zf, f, span, fmt, allow, ctx, storage)
            except _MEMBER_ERRORS as exc:  # one damaged member: the loaders still read the others
                return _unreadable(span.info.filename, exc)

        rest: list[tuple[int, Span]] = []
        for index, span in enumerate(spans):
            if not _is_storage(span.info.filename, fmt):
                rest.append((index, span))
            elif got := guarded(span, True):
                found[index] = got
        del spans
        for index, span in rest:
            if got := guarded(span, False):
                found[index] = got
        findings.extend(finding for index in sorted(found) for finding in found[index])
        return ScanOutcome(fmt, tuple(findings))

    def _member(
        self,
        zf: zipfile.ZipFile,
        f: IO[bytes],
        span: Span,
        fmt: str,
        allow: Allowlist,
        ctx: ScanContext,
        storage: bool,
    ) -> list[Finding]:
        info = span.info
        name = info.filename
        out = _escape(name)
        if span.problem:
            out.append(
                make_finding(
                    "MS-ZIP-HEADER-MISMATCH", f"member {name!r}: {span.problem}", location=Location(name)
                )
            )
        if name.endswith("/"):  # not is_dir(): a damaged directory may give a member an empty name
            return out
        if info.flag_bits & 0x1:
            out.append(
                make_finding("MS-ARCHIVE-ENCRYPTED", f"member {name!r} is encrypted", location=Location(name))
            )
            return out
        if storage and not _starts_like_npy(zf, f, span):  # tens of thousands of these in a checkpoint
            return out
        loc = Location(name)
        limits = ctx.limits
        # A declared size past the bomb ratio may be a lie (readers inflate until the stream ends, whatever
        # the directory says): read the member anyway, counting the bytes it really inflates to, so that a
        # bomb is one in fact and a lying header cannot hide what a loader reads.
        declared_bomb = info.file_size > limits.bomb_min_bytes and info.file_size > (
            limits.max_compression_ratio * max(info.compress_size, 1)
        )
        if info.compress_type != zipfile.ZIP_STORED and not declared_bomb:
            ctx.budget.add_decompressed(info.file_size, limits)
        try:
            member = zf.open(info)
            # torch reads records without checking their CRC, and numpy only at the member's end, after
            # the pickle in it has run: read the content whatever the CRC says.
            member._expected_crc = None  # type: ignore[attr-defined]
        except (zipfile.BadZipFile, NotImplementedError, OSError, RuntimeError, ValueError) as exc:
            # zipfile refuses a member whose local name or flags differ from the central ones; torch's
            # reader finds the data by the central directory whatever the local header says
            windows = _windows(f, info) if span.problem else []
            if not windows:
                out.append(
                    make_finding(
                        "MS-ARCHIVE-MALFORMED", f"member {name!r} cannot be read: {exc}", location=loc
                    )
                )
                return out
            return _scan_windows(f, windows, name, fmt, allow, ctx, out)
        try:
            out.extend(self._read(member, info, fmt, allow, ctx, declared_bomb))
        except _MEMBER_ERRORS as exc:
            if not span.problem:
                raise
            why = f"member {name!r} cannot be read: {exc}"
            out.append(make_finding("MS-ARCHIVE-MALFORMED", why, location=loc))
        if span.problem:  # the headers disagree: read the member as every other reader may
            stored = info.compress_type == zipfile.ZIP_STORED
            read = min(info.compress_size, info.file_size) if stored else info.compress_size
            others = [w for w in _windows(f, info) if w[1:] != (info.compress_type, read)]
            return _scan_windows(f, others, name, fmt, allow, ctx, out)
        return out

    @staticmethod
    def _read(
        member: IO[bytes],
        info: zipfile.ZipInfo,
        fmt: str,
        allow: Allowlist,
        ctx: ScanContext,
        declared_bomb: bool,
    ) -> list[Finding]:
        """The findings on a member's content as zipfile reads it."""
        name, loc, out = info.filename, Location(info.filename), []
        with member:
            if declared_bomb:
                from modelseal.scanners.compressed import Inflated

                counted = Inflated(member, info.compress_size, ctx)
                item = ScanInput(ByteSource(counted), name, None)
            else:
                item = ScanInput(ByteSource(FileRaw(member)), name, info.file_size, fileobj=member)  # type: ignore[arg-type]
            out.extend(_content(item, fmt, allow, ctx))
            if declared_bomb and not any(f.rule_id == "MS-ARCHIVE-BOMB" for f in out):
                out.extend(_bomb_in_fact(item, loc))
        return out


def _duplicates(names: list[str]) -> list[Finding]:
    return [
        make_finding("MS-ZIP-DUPLICATE-NAME", f"{count} members are named {name!r}", location=Location(name))
        for name, count in Counter(names).items()
        if count > 1
    ]


def _allowlist(fmt: str, ctx: ScanContext) -> Allowlist:
    allow = allowlist_of(ctx)
    if fmt == "torchscript":
        # TorchScript pickles name compiled classes as __torch__.*; their code is scanned from code/.
        allow = allow.extended(["__torch__.*:*", "__torch__:*"])
    return allow


def _escape(name: str) -> list[Finding]:
    """A finding when a member's name escapes the folder it is extracted to."""
    why = unsafe_member_name(name)
    if not why:
        return []
    return [make_finding("MS-ZIP-PATH-TRAVERSAL", f"member {name!r} has an {why}", location=Location(name))]


def _unreadable(name: str, exc: BaseException) -> list[Finding]:
    """The findings on a member whose reading failed: its name's, and why."""
    why = f"member {name!r} cannot be read: {exc}"
    return [*_escape(name), make_finding("MS-ARCHIVE-MALFORMED", why, location=Location(name))]


def _scan_plain(members: list[plainzip.PlainMember], f: IO[bytes], ctx: ScanContext) -> ScanOutcome:
    """A plain archive (see :mod:`.plainzip`): the same findings as the reference path, which would find
    nothing wrong with its structure, with every member read in place. Empties ``members``: the tens of
    thousands of a checkpoint's storages are let go of before its pickle, the member that costs memory, is
    read."""
    names = [member[0] for member in members]
    fmt = _layout(names)
    findings = _duplicates(names)
    allow = _allowlist(fmt, ctx)
    del names
    found: dict[int, list[Finding]] = {}
    rest: list[tuple[int, str, int, int]] = []
    for index, (name, data, size, head) in enumerate(members):
        if name.endswith("/") or (_is_storage(name, fmt) and not npy(head)):
            if escapes := _escape(name):
                found[index] = escapes
        else:
            rest.append((index, name, data, size))
    members.clear()
    for index, name, data, size in rest:
        try:
            member = FileWindow(f, data, size)
            item = ScanInput(ByteSource(FileRaw(member)), name, size, fileobj=member)  # type: ignore[arg-type]
            found[index] = [*_escape(name), *_content(item, fmt, allow, ctx)]
        except _MEMBER_ERRORS as exc:  # one damaged member: the loaders still read the others
            found[index] = _unreadable(name, exc)
    findings.extend(finding for index in sorted(found) for finding in found[index])
    return ScanOutcome(fmt, tuple(findings))


def _content(item: ScanInput, fmt: str, allow: Allowlist, ctx: ScanContext) -> list[Finding]:
    """One member's content, read as the loader of the archive's layout reads it."""
    name = item.name
    if fmt in ("pytorch-zip", "torchscript") and name.lower().endswith(".pkl"):
        # The weight checks type a top-level checkpoint's storages from its data.pkl: from this reading.
        typed = StorageTypes() if _typed_for_weights(name, ctx) else None
        findings = [f.within(name) for f in scan_pickle_stream(item, ctx.deeper(), allow, typed).findings]
        if typed is not None:
            ctx.budget.storage_types.setdefault(name, typed.dtypes)  # the first reading: zipfile's own
        return findings
    if (fmt == "keras" and name in KERAS_CONFIG_MEMBERS) or (
        fmt == "torchscript" and "/code/" in f"/{name}" and name.endswith(".py")
    ):
        most = ctx.limits.max_header_bytes
        data = b""
        while len(data) <= most and (chunk := item.source.read_upto(most + 1 - len(data))):
            data += chunk
        if len(data) > most:
            why = f"code member {name!r} is too large to analyse"
            return [make_finding("MS-LIMIT-EXCEEDED", why, location=Location(name))]
        return keras_zip_member(name, data) if fmt == "keras" else scan_torchscript_code(data, name)
    return list(ctx.nested(item).findings)


def _typed_for_weights(name: str, ctx: ScanContext) -> bool:
    """Whether the weight checks will want this member's storage types (as they pick the pickle)."""
    return ctx.depth == 0 and (ctx.nonfinite_check or ctx.weight_statistics) and checkpoint_pickle(name)


def _member_data(f: IO[bytes], data_at: int, stored: int, method: int, ctx: ScanContext) -> ByteSource | None:
    """A member's content from where its data starts: stored or deflated (None: another method)."""
    from modelseal.scanners.compressed import Decompressing, ZlibAdapter

    if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    f.seek(data_at)
    src = ByteSource(FileRaw(f)).window(stored)  # type: ignore[arg-type]
    if method == zipfile.ZIP_DEFLATED:
        src = ByteSource(Decompressing(src, ZlibAdapter(-15), ctx, None))
    return src


def _windows(f: IO[bytes], info: zipfile.ZipInfo) -> list[tuple[int, int, int]]:
    """Where each reader takes the data of a member whose local header contradicts the central directory:
    (data offset, method, stored length) for every pairing they use. All find the data after the local
    header's name and extra field. zipfile reads a stored member up to the smaller central size and inflates
    the central compressed size; torch's miniz reads a stored record by its central uncompressed size (its
    stored-size check misses files with a modification time) or, chunked, by its central compressed size;
    a reader that walks the local headers trusts their method and sizes (unless a data descriptor follows)."""
    f.seek(info.header_offset)
    raw = f.read(LOCAL_HEADER.size)
    if len(raw) < LOCAL_HEADER.size or raw[:4] != LOCAL_SIG:
        return []
    _, _, flags, method, _, _, _, csize, usize, name_len, extra_len = LOCAL_HEADER.unpack(raw)
    data_at = info.header_offset + LOCAL_HEADER.size + name_len + extra_len
    room = max(f.seek(0, 2) - data_at, 0)
    local = set() if flags & 0x08 else {csize, usize} - {0xFFFFFFFF}  # 0xFFFFFFFF: in a zip64 extra
    stored = {info.compress_size, info.file_size, *local}
    packed = {info.compress_size, *({csize} & local)}
    pairs = {
        (m, min(n, room))
        for m in {info.compress_type, method}
        for n in (stored if m == zipfile.ZIP_STORED else packed)
    }
    return sorted((data_at, m, n) for m, n in pairs if n)


def _scan_windows(
    f: IO[bytes],
    windows: list[tuple[int, int, int]],
    name: str,
    fmt: str,
    allow: Allowlist,
    ctx: ScanContext,
    out: list[Finding],
) -> list[Finding]:
    """``out`` with the findings of the member's content read in each of ``windows`` (each one once)."""
    for window in windows:
        out.extend(x for x in _read_at(f, window, name, fmt, allow, ctx) if x not in out)
    return out


def _bomb_in_fact(item: ScanInput, loc: Location) -> list[Finding]:
    """Inflate the rest of a member whose declared size is past the bomb ratio (a loader reads it all): it
    is a bomb only if its bytes are. Stops at the limit, so a real bomb costs no more than the limit."""
    from modelseal.core.errors import DecompressionBomb

    try:
        item.source.drain()
    except DecompressionBomb as exc:
        return [
            make_finding("MS-ARCHIVE-BOMB", f"member {item.name!r}: decompression bomb: {exc}", location=loc)
        ]
    except _MEMBER_ERRORS:
        pass  # damage past what was scanned: what the loaders read of it was scanned
    return []
