"""The public face: ``scan`` composes source → artifact → scanners → findings into a ScanResult.

The CLI and the service are thin shells over these functions.
"""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import PurePosixPath

from modelseal import __version__
from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.config import Config
from modelseal.core.findings import Finding, Severity
from modelseal.core.result import FileReport, ScanResult, TargetReport
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource, FileRaw
from modelseal.integrity.manifest import hash_file, manifest_digest
from modelseal.scanners.interface import ScanContext, ScanInput, ScanOutcome
from modelseal.scanners.pickle.allowlist import Allowlist
from modelseal.scanners.registry import dispatch, run_artifact_scanners
from modelseal.scanners.zip import ZipScanner
from modelseal.sources.resolve import resolve

Progress = Callable[[str, int, int], None]
"""Called as ``progress(path, files_done, files_total)`` after each file."""

# Extensions that promise a format unable to run code; content that can run code under such a name is a trick.
_PROMISED = {".safetensors": "safetensors", ".json": "text", ".txt": "text", ".md": "text", ".gguf": "gguf",
             ".npy": "npy", ".onnx": "onnx", ".h5": "hdf5", ".keras": "zip", ".yaml": "text", ".yml": "text"}
_CODE_CAPABLE = ("pickle", "pytorch", "joblib", "npy-object", "torchscript")
_ZIP_FORMATS = ("zip", "pytorch-zip", "torchscript", "npz")


def _allowlist(config: Config) -> Allowlist:
    return Allowlist(extra=config.allow, waivers=dict(config.waive), origin=config.origin)


def scan_file(entry: FileEntry, ctx: ScanContext) -> tuple[str, list[Finding]]:
    """Scan one file on disk: sniff, dispatch, then the checks that need the whole file (polyglots, names)."""
    try:
        fh = open(entry.path, "rb")  # noqa: SIM115 - closed by the `with fh:` below
    except OSError as exc:
        return "unreadable", [make_finding("MS-FILE-UNREADABLE", f"cannot open: {exc.strerror}")]
    with fh:
        item = ScanInput(ByteSource(FileRaw(fh)), entry.relpath, entry.size, fileobj=fh)
        outcome = dispatch(item, ctx)
        findings = list(outcome.findings)
        if outcome.format not in _ZIP_FORMATS:
            findings.extend(_polyglot(fh, entry, outcome, ctx))
    findings.extend(_extension_mismatch(entry.relpath, outcome.format))
    return outcome.format, findings


def _polyglot(fh: object, entry: FileEntry, outcome: ScanOutcome, ctx: ScanContext) -> list[Finding]:
    """A zip directory at the end of a file that starts as something else: loaders that look at the start
    (pickle, legacy torch) and ones that look at the end (zip readers) see different content."""
    if outcome.format in ("empty", "unreadable"):
        return []
    try:
        fh.seek(0)  # type: ignore[attr-defined]
        is_zip = zipfile.is_zipfile(fh)  # type: ignore[arg-type]
    except OSError:
        return []
    if not is_zip:
        return []
    fh.seek(0)  # type: ignore[attr-defined]
    inner = ZipScanner().scan(ScanInput(ByteSource(FileRaw(fh)), entry.relpath, entry.size, fileobj=fh), ctx)  # type: ignore[arg-type]
    return [make_finding("MS-POLYGLOT", f"file is a {outcome.format} and also a {inner.format} archive",
                         evidence="zip end-of-central-directory found after non-zip content"), *inner.findings]


def _extension_mismatch(relpath: str, fmt: str) -> list[Finding]:
    promised = _PROMISED.get(PurePosixPath(relpath).suffix.lower())
    if promised is None or fmt.startswith(promised) or fmt in ("empty", "unreadable"):
        return []
    severity = Severity.HIGH if any(k in fmt for k in _CODE_CAPABLE) else Severity.MEDIUM
    return [make_finding("MS-FORMAT-EXTENSION-MISMATCH", f"named like {promised} but the content is {fmt}",
                         severity=severity)]


def _resolution_findings(artifact: Artifact) -> list[Finding]:
    out = []
    for relpath, reason in artifact.rejected:
        rule = "MS-FILE-LINK-ESCAPE" if "link" in reason else "MS-FILE-UNREADABLE"
        out.append(make_finding(rule, f"{relpath}: {reason}", file=relpath))
    return out


def scan(
    targets: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    config: Config | None = None,
    *,
    digests: bool = True,
    progress: Progress | None = None,
) -> ScanResult:
    """Scan files, folders or hub references. Never executes or imports anything found in them.

    Raises :class:`~modelseal.core.errors.SourceError` when a target cannot be resolved; everything wrong
    *inside* a target is a finding.
    """
    started = time.monotonic()
    config = config or Config()
    if isinstance(targets, (str, os.PathLike)):
        targets = [targets]
    ctx = ScanContext(config.limits, dispatch, _allowlist(config))
    reports = []
    artifacts = [resolve(os.fspath(t), max_files=config.limits.max_files) for t in targets]
    total = sum(len(a.files) for a in artifacts)
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for artifact in artifacts:
            hashes: list[Future[str]] = [pool.submit(hash_file, e.path) for e in artifact.files] if digests else []
            files = []
            paths = {e.relpath for e in artifact.files}
            for entry in artifact.files:
                t0 = time.monotonic()
                fmt, findings = scan_file(entry, ScanContext(ctx.limits, dispatch, ctx.allowlist))
                files.append((entry, fmt, findings, time.monotonic() - t0))
                done += 1
                if progress:
                    progress(entry.relpath, done, total)
            by_file: dict[str, list[Finding]] = {}
            loose: list[Finding] = list(_resolution_findings(artifact))
            for finding in run_artifact_scanners(artifact, ctx):
                (by_file.setdefault(finding.file, []) if finding.file in paths else loose).append(finding)
            file_reports = []
            for i, (entry, fmt, findings, seconds) in enumerate(files):
                findings = findings + by_file.get(entry.relpath, [])
                digest = _digest(hashes[i]) if digests else None
                located = tuple(f.with_file(entry.relpath) for f in findings)
                file_reports.append(FileReport(entry.relpath, entry.size, fmt, digest, located, seconds))
            mdigest = manifest_digest([(r.path, r.digest) for r in file_reports if r.digest]) if digests else None
            reports.append(TargetReport(artifact.source, str(artifact.root), tuple(file_reports), mdigest,
                                        tuple(loose)))
    return ScanResult(tuple(reports), __version__, time.monotonic() - started)


def _digest(future: Future[str]) -> str | None:
    try:
        return future.result()
    except OSError:
        return None


__all__ = ["scan", "scan_file"]
