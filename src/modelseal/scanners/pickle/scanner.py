"""Pickle streams: one or more pickles back to back (plain pickles, legacy PyTorch files, joblib dumps)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from modelseal.core.errors import Truncated
from modelseal.core.findings import Finding, Location
from modelseal.core.limits import Limits
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource, FileRaw, Recording
from modelseal.scanners.interface import SNIFF_BYTES, ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.pickle.allowlist import Allowlist, default_allowlist
from modelseal.scanners.pickle.machine import INTENT_RULES, NESTED_BYTES, Machine
from modelseal.scanners.pickle.opcodes import NAMES, looks_like_pickle
from modelseal.scanners.pickle.values import Global, Seq, describe

# The first pickle of a legacy (pre-zip) torch.save file is this magic number.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# Legacy torch files hold five pickles (magic, protocol, sys_info, object, storage keys), then raw storages.
TORCH_LEGACY_PICKLES = 5


def plausible_protocol0(head: bytes) -> bool:
    """Protocol 0/1 pickles have no magic, and text can look like opcodes (``torch==2.3`` starts with TUPLE).
    Accept if the symbolic machine calls a global before anything goes wrong (a loader runs that call), or
    runs the first bytes without a parse or stack error: to STOP, or until the sniff window ends."""
    if not head or head[0] not in NAMES or head[0] == 0x80:
        return False
    report = Machine(ByteSource.from_bytes(head), _SNIFF_CONTEXT, default_allowlist()).run()
    if report.complete or report.called:  # a loader runs a call before any later failure
        return True
    return report.ran_out and (len(head) >= SNIFF_BYTES or bool(report.globals_named))


def _no_nested(item: ScanInput, ctx: ScanContext) -> ScanOutcome:
    return ScanOutcome("unscanned")


_SNIFF_CONTEXT = ScanContext(Limits(max_seconds_per_file=1), _no_nested)


def allowlist_of(ctx: ScanContext) -> Allowlist:
    return ctx.allowlist if isinstance(ctx.allowlist, Allowlist) else default_allowlist()


def scan_pickle_stream(
    item: ScanInput,
    ctx: ScanContext,
    allowlist: Allowlist | None = None,
    persistent_calls: Callable[[Any], None] | None = None,
) -> ScanOutcome:
    """Scan every pickle in the stream as ``pickle.load`` (and torch's unpickler) reads it;
    ``persistent_calls`` sees the persistent ids the first pickle's calls receive (what torch loads)."""
    allow = allowlist or allowlist_of(ctx)
    return _scan_stream(item.source, ctx, allow, joblib=False, persistent=persistent_calls)[0]


def scan_pickle_file(item: ScanInput, ctx: ScanContext, allowlist: Allowlist | None = None) -> ScanOutcome:
    """A pickle that any loader may be given: read as plain ``pickle.load`` reads it and, when it holds
    joblib array wrappers, also as ``joblib.load`` reads it (raw array bytes after each wrapper's BUILD).
    The two readings differ after the first array; whatever either loader would run is reported."""
    allow = allowlist or allowlist_of(ctx)
    if item.fileobj is not None:
        plain, wrappers = _scan_stream(item.source, ctx, allow, joblib=False)
        if not wrappers:
            return plain
        item.fileobj.seek(0)
        return _with_joblib(plain, ByteSource(FileRaw(item.fileobj)), ctx, allow)
    recording = Recording(item.source, ctx.limits.max_reread_bytes)
    try:
        plain, wrappers = _scan_stream(ByteSource(recording), ctx, allow, joblib=False)
        if not wrappers:
            return plain
        again = recording.again()
        if again is None:
            limit = make_finding(
                "MS-LIMIT-EXCEEDED",
                f"stream too large to read a second time as joblib does (over {ctx.limits.max_reread_bytes} "
                "bytes)",
            )
            return ScanOutcome("joblib", (*plain.findings, limit))
        return _with_joblib(plain, again, ctx, allow)
    finally:
        recording.close()


def _with_joblib(plain: ScanOutcome, src: ByteSource, ctx: ScanContext, allow: Allowlist) -> ScanOutcome:
    joblib, _ = _scan_stream(src, ctx, allow, joblib=True)
    seen = {(f.rule_id, f.message, f.location) for f in joblib.findings}
    # The plain reading runs into array bytes: its parse errors are expected, what it would run is not.
    extra = tuple(
        f
        for f in plain.findings
        if f.rule_id in INTENT_RULES and (f.rule_id, f.message, f.location) not in seen
    )
    return ScanOutcome("joblib", joblib.findings + extra)


def _scan_stream(
    src: ByteSource,
    ctx: ScanContext,
    allow: Allowlist,
    *,
    joblib: bool,
    persistent: Callable[[Any], None] | None = None,
) -> tuple[ScanOutcome, int]:
    """Every pickle in the stream (joblib reads only the first), and how many joblib array wrappers were
    built. Data after the first pickle is parsed opportunistically: what a repeated ``pickle.load`` would
    reach must be seen, while random trailing bytes must not raise false alarms."""
    wrappers = 0
    findings: list[Finding] = []
    fmt = "pickle"
    index = 0
    while True:
        opportunistic = index > 0
        first = persistent if index == 0 else None
        report = Machine(src, ctx, allow, joblib=joblib, persistent_calls=first).run()
        ctx.budget.record_imports(report.globals_named)
        wrappers += report.joblib_arrays
        if index == 0 and report.result == TORCH_LEGACY_MAGIC:
            fmt = "pytorch-legacy"
        if report.joblib_arrays:
            fmt = "joblib"
        if opportunistic and not report.complete:
            findings.extend(f for f in report.findings if f.rule_id in INTENT_RULES)
            findings.append(
                make_finding(
                    "MS-PICKLE-TRAILING-DATA",
                    "data after the last complete pickle is not a complete pickle",
                    location=Location(offset=report.end_offset),
                )
            )
            break
        findings.extend(report.findings)
        index += 1
        if not report.complete or joblib or src.at_eof():
            break
        if fmt == "pytorch-legacy" and index >= TORCH_LEGACY_PICKLES:
            break  # the rest is raw storage data, which torch reads as bytes, never unpickles
        if index >= ctx.limits.max_pickles_per_stream:
            findings.append(
                make_finding(
                    "MS-LIMIT-EXCEEDED",
                    f"more than {ctx.limits.max_pickles_per_stream} pickles in one stream",
                    location=Location(offset=src.tell()),
                )
            )
            break
        head = src.peek(3)
        if not (looks_like_pickle(head) or (head[:1] and head[0] in NAMES and head[0] != 0x80)):
            findings.append(
                make_finding(
                    "MS-PICKLE-TRAILING-DATA",
                    "data follows the last pickle and is not a pickle",
                    location=Location(offset=src.tell()),
                    evidence=f"starts with {head!r}",
                )
            )
            break
    return ScanOutcome(fmt, tuple(findings)), wrappers


def record_text_imports(item: ScanInput, ctx: ScanContext) -> None:
    """Text (or unknown content) that starts like protocol-0 opcodes may still name a global before a pickle
    loader fails on it (``cfg`` then ``value``: an import of ``fg.value``, and no call). Such names are
    listed in the file's imports, without findings: a loader can only try the import and stop."""
    if item.head[:1] and item.head[0] in NAMES:
        ctx.budget.record_imports(Machine(item.source, ctx, allowlist_of(ctx)).run().globals_named)


class PickleScanner(Scanner):
    format = "pickle"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        if item.name.startswith(NESTED_BYTES):
            return scan_pickle_stream(item, ctx)
        return scan_pickle_file(item, ctx)


# Bytes per element of the legacy storage classes (torch.<Name>Storage), for stepping over their data.
_STORAGE_SIZES = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexDoubleStorage": 16,
    "ComplexFloatStorage": 8,
    "QUInt8Storage": 1,
    "QInt8Storage": 1,
    "QInt32Storage": 4,
    "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1,
}


def scan_torch_records(item: ScanInput, ctx: ScanContext, member: str) -> ScanOutcome:
    """The ``storages`` or ``tensors`` member of a legacy torch tar, read as torch's ``legacy_load`` reads it:
    a count, then per record a pickle followed by raw data whose size the pickle and a binary header give
    (then, for storages, one more pickle of views). Every pickle in it runs on load, not only the first."""
    allow = allowlist_of(ctx)
    src = item.source
    findings: list[Finding] = []

    def pickle_at() -> Any:
        report = Machine(src, ctx, allow).run()
        ctx.budget.record_imports(report.globals_named)
        findings.extend(report.findings)
        if not report.complete:
            raise _Stop
        return report.result

    try:
        count = pickle_at()
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise _Damaged(f"record count {describe(count)}")
        for _ in range(min(count, ctx.limits.max_pickles_per_stream)):
            args = pickle_at()
            if member == "storages":
                kind = args.items[2] if isinstance(args, Seq) and len(args.items) == 3 else None
                size = _STORAGE_SIZES.get(kind.name) if isinstance(kind, Global) else None
                if size is None:
                    raise _Damaged(f"storage of type {describe(kind)}, which cannot be sized")
                src.skip(int.from_bytes(src.read(8), "little") * size)
            else:
                (ndim,) = struct.unpack("<i", src.read(4))
                if ndim < 0:
                    raise _Damaged(f"tensor with {ndim} dimensions")
                src.skip(4 + 16 * ndim + 8)
        if count > ctx.limits.max_pickles_per_stream:
            findings.append(
                make_finding("MS-LIMIT-EXCEEDED", f"{count} records in legacy torch member {member!r}")
            )
        elif member == "storages":
            pickle_at()  # the storage views
    except _Stop:
        pass
    except _Damaged as exc:
        findings.append(make_finding("MS-PICKLE-MALFORMED", f"legacy torch {member!r} cannot be read: {exc}"))
    except Truncated as exc:
        findings.append(make_finding("MS-PICKLE-MALFORMED", f"legacy torch {member!r} is truncated: {exc}"))
    return ScanOutcome("pytorch-legacy-records", tuple(findings))


class _Stop(Exception):
    """A pickle in the records did not parse; its findings say why."""


class _Damaged(Exception):
    """The records are not what torch can read."""
