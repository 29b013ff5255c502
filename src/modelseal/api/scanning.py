"""``scan``: source → artifact → scanners → findings, into a ScanResult.

:func:`scan_targets` is the composition every other one builds on (through
:func:`~modelseal.api.examination.examine`): it resolves each target once, scans and hashes it once, and
runs the shared checks (:mod:`modelseal.api.checks`) on those digests, returning what it learned beside
the report, so that ``gate`` decides on exactly what ``scan`` reported.
"""

from __future__ import annotations

import io
import os
import posixpath
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from modelseal import __version__
from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.collector import collector_paused
from modelseal.core.config import Config
from modelseal.core.cpus import usable_cpus
from modelseal.core.findings import Finding, Severity
from modelseal.core.result import FileReport, ScanResult, TargetReport
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource, FileRaw
from modelseal.integrity import AUTO_DIGEST_BYTES, LOCKFILE
from modelseal.parallel import Executor, LocalPool, Outcome, default_jobs
from modelseal.scanners import signatures
from modelseal.scanners.interface import ScanContext, ScanInput, ScanOutcome
from modelseal.scanners.pickle.allowlist import Allowlist
from modelseal.scanners.registry import contained, dispatch, run_artifact_scanners
from modelseal.sources.resolve import Resolved, resolve

if TYPE_CHECKING:
    from concurrent.futures import Future

    from modelseal.api.checks import LockSource, SignatureCheck, TargetChecks
    from modelseal.integrity.manifest import Manifest

Progress = Callable[[str, int, int], None]
"""Called as ``progress(path, files_done, files_total)`` after each file."""

# Extensions that promise a format unable to run code; content that can run code under such a name is a trick.
_PROMISED = {
    ".safetensors": "safetensors",
    ".json": "text",
    ".txt": "text",
    ".md": "text",
    ".gguf": "gguf",
    ".npy": "npy",
    ".onnx": "onnx",
    ".h5": "hdf5",
    ".keras": "keras",
    ".yaml": "text",
    ".yml": "text",
}
_CODE_CAPABLE = ("pickle", "pytorch", "joblib", "npy-object", "torchscript")


def _allowlist(config: Config) -> Allowlist:
    return Allowlist(extra=config.allow, waivers=dict(config.waive), origin=config.origin)


def context_for(config: Config, *, weight_statistics: bool = False) -> ScanContext:
    """What every file of a scan under ``config`` is scanned with (a queue worker builds the same)."""
    return ScanContext(config.limits, dispatch, _allowlist(config), weight_statistics=weight_statistics)


SMALL_FILE_BYTES = 1 << 20
"""Files up to this size are read whole, once: the scan works from memory, and a digest asked for is of
exactly the bytes that were scanned."""


def scan_file(
    entry: FileEntry,
    ctx: ScanContext,
    *,
    digest: bool = False,
    learned: dict[str, Mapping[str, Mapping[str, str]]] | None = None,
) -> tuple[str, list[Finding], str | None, tuple[str, ...]]:
    """Scan one file on disk: sniff, dispatch, then the checks that need the whole file (polyglots, names).
    Returns the format, the findings, when ``digest`` is asked for the file's digest (None if it could
    not be read), and the globals its pickles import (``module:qualname``). ``learned``, when given, gets
    the storage types its pickle gave a torch checkpoint, for the weight checks
    (:attr:`~modelseal.scanners.interface.ScanContext.storage_types`)."""
    ctx = ctx.for_file()
    try:
        fh = open(entry.path, "rb")  # noqa: SIM115 - closed by the `with fh:` below
    except OSError as exc:
        return "unreadable", [make_finding("MS-FILE-UNREADABLE", f"cannot open: {exc.strerror}")], None, ()
    with fh:
        data = fh.read(entry.size + 1) if entry.size <= SMALL_FILE_BYTES else None
        if data is not None and len(data) > entry.size:  # it grew since it was listed: stream it instead
            data = None
        view: BinaryIO = fh if data is None else io.BytesIO(data)
        view.seek(0)
        where = os.fspath(entry.path)
        item = ScanInput(ByteSource(FileRaw(view)), entry.relpath, entry.size, fileobj=view, disk_path=where)
        head = item.head
        with collector_paused():  # until the analysis' records are freed: see core.collector
            outcome = dispatch(item, ctx)
            findings = list(outcome.findings)
            if not signatures.zip_archive(head):
                findings.extend(_polyglot(view, entry, outcome, ctx))
            if signatures.tar(head) and signatures.pickle_with_proto(head):
                findings.extend(_pickle_in_front(view, entry, outcome, ctx))
    findings.extend(_extension_mismatch(entry.relpath, outcome.format))
    found = None
    if digest:
        from modelseal.core.hashing import hash_bytes

        found = _hash(entry.path) if data is None else hash_bytes(data)
    if learned is not None and ctx.budget.storage_types:
        learned[entry.relpath] = ctx.budget.storage_types
    return outcome.format, findings, found, tuple(ctx.budget.imports)


def _pickle_in_front(fh: BinaryIO, entry: FileEntry, outcome: ScanOutcome, ctx: ScanContext) -> list[Finding]:
    """A tar starts with its first member's name, so it can also be a pickle: torch.load reads such a file
    as a tar, pickle.load runs the pickle in front. Read the start as a pickle too; only findings that show
    intent count, since a legitimate name may look like a PROTO by chance, never like an import and a call."""
    from modelseal.scanners.pickle.machine import INTENT_RULES
    from modelseal.scanners.pickle.scanner import scan_pickle_stream

    fh.seek(0)
    reading = scan_pickle_stream(ScanInput(ByteSource(FileRaw(fh)), entry.relpath, entry.size), ctx)
    intent = [f for f in reading.findings if f.rule_id in INTENT_RULES]
    if not intent:
        return []
    return [
        make_finding(
            "MS-POLYGLOT",
            f"file is a {outcome.format} and also starts with a pickle",
            evidence="pickle PROTO opcode at offset 0 of an archive",
        ),
        *intent,
    ]


# A zip's end-of-central-directory record sits in the last 22 bytes plus at most a 64 KiB comment.
_EOCD_WINDOW = 22 + 0xFFFF


def _polyglot(fh: BinaryIO, entry: FileEntry, outcome: ScanOutcome, ctx: ScanContext) -> list[Finding]:
    """A zip directory at the end of a file that starts as something else: loaders that look at the start
    (pickle, legacy torch) and ones that look at the end (zip readers) see different content."""
    if outcome.format in ("empty", "unreadable"):
        return []
    try:
        fh.seek(max(0, entry.size - _EOCD_WINDOW))
        if b"PK\x05\x06" not in fh.read(_EOCD_WINDOW):
            return []
        import zipfile

        fh.seek(0)
        if not zipfile.is_zipfile(fh):
            return []
    except OSError:
        return []
    from modelseal.scanners.zip import ZipScanner

    fh.seek(0)
    item = ScanInput(ByteSource(FileRaw(fh)), entry.relpath, entry.size, fileobj=fh)
    inner = contained(ZipScanner(), item, ctx)
    return [
        make_finding(
            "MS-POLYGLOT",
            f"file is a {outcome.format} and also a {inner.format} archive",
            evidence="zip end-of-central-directory found after non-zip content",
        ),
        *inner.findings,
    ]


def _extension_mismatch(relpath: str, fmt: str) -> list[Finding]:
    promised = _PROMISED.get(posixpath.splitext(relpath)[1].lower())
    if promised is None or fmt.startswith(promised) or fmt in ("empty", "unreadable"):
        return []
    severity = Severity.HIGH if any(k in fmt for k in _CODE_CAPABLE) else Severity.MEDIUM
    return [
        make_finding(
            "MS-FORMAT-EXTENSION-MISMATCH",
            f"named like {promised} but the content is {fmt}",
            severity=severity,
        )
    ]


def _resolution_findings(artifact: Artifact) -> list[Finding]:
    out = []
    for relpath, reason in artifact.rejected:
        rule = "MS-FILE-LINK-ESCAPE" if "link" in reason else "MS-FILE-UNREADABLE"
        out.append(make_finding(rule, f"{relpath}: {reason}", file=relpath))
    return out


Scanned = tuple[Resolved, Artifact, "Manifest | None", "TargetChecks | None"]
"""One target as the scan left it (resolution, hashed files, manifest, checks); ``examine`` makes each an
:class:`~modelseal.api.examination.Examined`. A tuple here so that ``scan``'s module defines no record
of its own: ``modelseal scan``'s start-up is a budget."""


def scan_targets(
    targets: Sequence[str],
    config: Config,
    *,
    digests: bool | None = True,
    lockfile: Path | bool | None = None,
    strict_lockfile: bool = True,
    signature: SignatureCheck | None = None,
    offline: bool = False,
    cache_dir: Path | None = None,
    dynamic: bool = False,
    weight_statistics: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> tuple[ScanResult, list[Scanned]]:
    """Resolve each target once, scan and hash it once, check it once (the fields of
    :class:`~modelseal.api.examination.ScanRequest`). Raises :class:`~modelseal.core.errors.SourceError`
    when a target cannot be resolved."""
    started = time.monotonic()
    ctx = context_for(config, weight_statistics=weight_statistics)
    resolved = [
        resolve(t, max_files=config.limits.max_files, offline=offline, cache_dir=cache_dir) for t in targets
    ]
    run = _Run(
        ctx,
        config,
        digests,
        signature,
        dynamic,
        _lock_source(lockfile, strict_lockfile),
        _Counter(sum(len(r.artifact.files) for r in resolved), progress),
        executor or LocalPool(1 if dynamic else (jobs or default_jobs())),  # sandbox runs are not forked
        offline,
    )
    done = [_scan_target(res, run) for res in resolved]
    result = ScanResult(tuple(report for report, _ in done), __version__, time.monotonic() - started)
    return result, [scanned for _, scanned in done]


def scan(
    targets: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    config: Config | None = None,
    *,
    digests: bool | None = True,
    progress: Progress | None = None,
    lockfile: Path | bool | None = None,
    offline: bool = False,
    dynamic: bool = False,
    weight_statistics: bool = False,
    jobs: int | None = None,
    executor: Executor | None = None,
    signature: SignatureCheck | None = None,
) -> ScanResult:
    """Scan files, folders or hub references. Never executes or imports anything found in them.

    ``digests`` hashes every file and computes the manifest digest; ``False`` hashes only the files with
    findings (their digests key stable fingerprints); ``None`` hashes every file of targets up to
    :data:`~modelseal.integrity.AUTO_DIGEST_BYTES` and only those with findings beyond. A lockfile entry for
    a target makes every file of it hashed whatever ``digests`` says. ``lockfile`` (default:
    ``modelseal.lock`` in the working folder, when present; ``False``: none) is consulted for every target
    that has an entry; a difference is a finding. A Hugging Face cache snapshot hashed whole is checked
    against the cache's blob names. ``dynamic`` also loads each file that can run code inside
    the sandbox and adds what it attempted (``MS-DYNAMIC-*``); ``weight_statistics`` streams every tensor
    for value statistics (NaN/Inf, outliers). ``jobs`` caps the processes that scan the files of a large
    folder (default: the CPUs available, at most 8; see :mod:`modelseal.parallel`); ``executor`` scans them
    elsewhere instead (:class:`~modelseal.queue.executor.QueueExecutor`: workers on a PostgreSQL queue).
    ``signature`` also checks each target's signature (every file is then hashed) and reports its state.
    Raises
    :class:`~modelseal.core.errors.SourceError` when a target cannot be resolved; everything wrong *inside*
    a target is a finding.
    """
    if isinstance(targets, (str, os.PathLike)):
        targets = [targets]
    result, _ = scan_targets(
        [os.fspath(t) for t in targets],
        config or Config(),
        digests=digests,
        lockfile=lockfile,
        offline=offline,
        dynamic=dynamic,
        weight_statistics=weight_statistics,
        jobs=jobs,
        progress=progress,
        executor=executor,
        signature=signature,
    )
    return result


class _Run(NamedTuple):
    """What every target of one scan shares."""

    ctx: ScanContext
    config: Config
    digests: bool | None
    signature: SignatureCheck | None
    dynamic: bool
    lock: LockSource | None
    """None: no lockfile to consult (the checks module is then not even imported: scan start-up)."""
    counter: _Counter
    executor: Executor
    offline: bool
    """No network: the hub's own file records are not fetched for the advisory checks."""


def _advisories_apply(res: Resolved, run: _Run) -> bool:
    """Whether the advisory checks have anything to look at: a configured or synced cache, or a revision
    resolved online through the hub. Decided without importing them (``modelseal scan``'s start-up)."""
    from modelseal.advisories import default_cache_path

    hub_online = bool(res.model_id and res.revision and res.repo_uid) and not run.offline
    return hub_online or "advisories" in run.config.raw or default_cache_path().is_file()


class _Counter:
    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress

    def tick(self, path: str) -> None:
        self.done += 1
        if self.progress:
            self.progress(path, self.done, self.total)


def _scan_target(res: Resolved, run: _Run) -> tuple[TargetReport, Scanned]:
    """Scan each file (hashing all of them on threads meanwhile when asked), then the checks over the
    whole artifact, then the shared checks on the digests."""
    artifact, ctx = res.artifact, run.ctx
    total = sum(e.size for e in artifact.files)
    every = total <= AUTO_DIGEST_BYTES if run.digests is None else run.digests
    pinned = run.lock is not None and run.lock.find(res.lock_key)[1] is not None
    whole = every or pinned or run.signature is not None
    threaded = total > _THREADED_HASH_BYTES and not run.executor.provides_digests
    hashing = _Hashing(artifact.files, whole, threaded=threaded)
    if hashing.all:  # every byte is read anyway: weights made only of NaN/Inf are looked for too
        ctx = replace(ctx, nonfinite_check=True)
    learned: dict[str, Mapping[str, Mapping[str, str]]] = {}  # from the files scanned in this process

    def scan_one(entry: FileEntry) -> Outcome:
        t0 = time.monotonic()
        fmt, findings, digest, imports = scan_file(entry, ctx, digest=hashing.beside, learned=learned)
        if run.dynamic and any(kind in fmt for kind in _CODE_CAPABLE):
            from modelseal.sandbox.dynamic import dynamic_scan

            findings.extend(dynamic_scan(entry.path))
        return fmt, findings, time.monotonic() - t0, digest, imports

    outcomes = run.executor.outcomes(artifact.files, scan_one, run.counter.tick)
    scanned = [(e, *outcome) for e, outcome in zip(artifact.files, outcomes, strict=True)]
    paths = {e.relpath for e in artifact.files}
    by_file: dict[str, list[Finding]] = {}
    loose = _resolution_findings(artifact)
    formats = {e.relpath: fmt for e, fmt, _, _, _, _ in scanned}
    for finding in run_artifact_scanners(artifact, replace(ctx, storage_types=learned), formats):
        (by_file.setdefault(finding.file, []) if finding.file in paths else loose).append(finding)
    if res.model_id:
        loose.extend(_name_findings(res.model_id, run.config))
    entries, reports = [], []
    for i, (e, fmt, findings, seconds, digest, imports) in enumerate(scanned):
        found = tuple(f.with_file(e.relpath) for f in (*findings, *by_file.get(e.relpath, [])))
        entries.append(FileEntry(e.relpath, e.path, e.size, digest or hashing.digest(i, bool(found))))
        reports.append(FileReport(e.relpath, e.size, fmt, entries[i].digest, found, seconds, imports))
    unreadable = tuple((e.relpath, "cannot be read") for e in entries if e.digest is None)
    hashed = Artifact(
        artifact.root,
        tuple(e for e in entries if e.digest is not None),
        artifact.source,
        artifact.ignored,
        artifact.rejected + unreadable,
    )
    manifest = None
    if hashing.all:
        from modelseal.integrity.manifest import manifest_for

        manifest = manifest_for(hashed)
    checks = _checks(res, hashed, manifest, run)
    if checks is not None:
        loose.extend(checks.findings)
    if _advisories_apply(res, run):
        from modelseal.api.advisories import target_findings

        loose.extend(target_findings(res, hashed, manifest, run.config, offline=run.offline))
    tier = checks.tier.tier if checks is not None and checks.tier else None
    report = TargetReport(
        artifact.source,
        str(artifact.root),
        tuple(reports),
        manifest.digest if manifest else None,
        tuple(loose),
        checks.lock.report_state if checks is not None else "",
        tier,
        checks.signature.state if checks is not None and checks.signature else "",
        checks.signature.signer if checks is not None and checks.signature else None,
    )
    return report, (res, hashed, manifest, checks)


def _lock_source(path: Path | bool | None, strict: bool) -> LockSource | None:
    """The lockfile to consult, read once; None when there is none."""
    if path is False or (path in (None, True) and not Path(LOCKFILE).is_file()):
        return None
    from modelseal.api.checks import read_lockfile

    return read_lockfile(path, strict=strict)


def _checks(res: Resolved, hashed: Artifact, manifest: Manifest | None, run: _Run) -> TargetChecks | None:
    """The shared checks of one target (:mod:`modelseal.api.checks`), on the scan's digests; the lock,
    signature and cache checks need every file hashed (``manifest``)."""
    if run.lock is None and run.signature is None and res.snapshot is None and not res.model_id:
        return None
    from modelseal.api.checks import LockSource, TargetChecks, check_target, tier_of

    if manifest is None:
        return TargetChecks(tier=tier_of(res.model_id, run.config))
    lock = run.lock or LockSource(None)
    return check_target(res, hashed, manifest, lockfile=lock, signature=run.signature, config=run.config)


_THREADED_HASH_BYTES = 64 << 20
"""Past this, hashing runs on threads while the scan runs; below it the threads cost more than they save."""


class _Hashing:
    """File digests for one target: of every file (on threads during the scan for a large target; for a
    small one by the scan of each file, right after it, in the scanning process), or on demand, only for
    the files with findings."""

    def __init__(self, files: Sequence[FileEntry], every_file: bool, threaded: bool) -> None:
        self.files = files
        self.all = every_file
        self.beside = every_file and not threaded
        self.futures: list[Future[str | None]] = []
        if every_file and threaded and files:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=min(4, usable_cpus()))
            self.futures = [pool.submit(_hash, e.path) for e in files]
            pool.shutdown(wait=False)  # the submitted files still get hashed; the threads end after them

    def digest(self, index: int, wanted: bool) -> str | None:
        """The digest of file ``index`` when every file is hashed or ``wanted``; None if unreadable."""
        if self.futures:
            return self.futures[index].result()
        return _hash(self.files[index].path) if wanted else None


def _hash(path: Path) -> str | None:
    """A file's digest (from the digest cache when it vouches for it); None when it cannot be read (the
    manifest then lists it as rejected)."""
    from modelseal.core.digestcache import default_cache
    from modelseal.core.hashing import hash_file

    try:
        return hash_file(path, cache=default_cache())
    except OSError:
        return None


def _name_findings(model_id: str, config: Config) -> list[Finding]:
    """Look-alike and internal-name findings for a hub id."""
    from modelseal.provenance.config import ProvenanceConfig
    from modelseal.provenance.names import check_model_id

    settings = ProvenanceConfig.from_config(config)
    return list(check_model_id(model_id, settings.internal, settings.catalogue()))


__all__ = ["Scanned", "context_for", "scan", "scan_file", "scan_targets"]
