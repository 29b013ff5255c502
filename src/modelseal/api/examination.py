"""``examine``: a scan that also returns what it learned about each target, for the compositions built on
it (``gate``, ``reverify``). One request record in, one result record out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelseal.api.checks import SignatureCheck, TargetChecks
from modelseal.api.scanning import Progress, scan_targets
from modelseal.core.artifact import Artifact
from modelseal.core.config import Config
from modelseal.core.result import ScanResult
from modelseal.integrity.manifest import Manifest
from modelseal.sources.resolve import Resolved


@dataclass(frozen=True)
class ScanRequest:
    """One scan: what to scan and how."""

    targets: tuple[str, ...]
    """Paths, ``hf://org/name@rev`` or ``s3://bucket/prefix``, resolved once each."""
    config: Config = field(default_factory=Config)
    digests: bool | None = True
    """True: hash every file; False: only those with findings; None: every file up to
    :data:`~modelseal.integrity.AUTO_DIGEST_BYTES` per target. A lock entry for a target hashes it whole."""
    lockfile: Path | bool | None = None
    """None: ``modelseal.lock`` in the working folder when present; False: none."""
    strict_lockfile: bool = True
    """A malformed lockfile is an error (True) or an ``unavailable`` lock state (False, the gate)."""
    signature: SignatureCheck | None = None
    """Also check each target's signature (on the scan's digests) before its lock entry."""
    offline: bool = False
    cache_dir: Path | None = None
    dynamic: bool = False
    weight_statistics: bool = False
    jobs: int | None = None
    progress: Progress | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Examined:
    """One target as the scan left it: its resolution, its hashed files and the shared checks."""

    resolved: Resolved
    artifact: Artifact
    """The files, each with its digest when the target was hashed whole."""
    manifest: Manifest | None
    """None when the target was not hashed whole (a large target scanned without digests)."""
    checks: TargetChecks | None
    """None when there was nothing to check: no lockfile, signature, cache snapshot or hub id."""


@dataclass(frozen=True)
class Examination:
    """A scan's report and what it learned about each target, in the same order."""

    result: ScanResult
    targets: tuple[Examined, ...]


def examine(request: ScanRequest) -> Examination:
    """Resolve each target once, scan and hash it once, check it once. Raises
    :class:`~modelseal.core.errors.SourceError` when a target cannot be resolved."""
    result, scanned = scan_targets(
        request.targets,
        request.config,
        digests=request.digests,
        lockfile=request.lockfile,
        strict_lockfile=request.strict_lockfile,
        signature=request.signature,
        offline=request.offline,
        cache_dir=request.cache_dir,
        dynamic=request.dynamic,
        weight_statistics=request.weight_statistics,
        jobs=request.jobs,
        progress=request.progress,
    )
    return Examination(result, tuple(Examined(*s) for s in scanned))
