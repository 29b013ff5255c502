"""The outcome of a scan: per-file reports, and the verdict-relevant summary over them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from modelseal.core.findings import Finding, Severity


@dataclass(frozen=True)
class FileReport:
    """What one file turned out to be and what was found in it."""

    path: str
    """Path as shown to the user: relative to the target for folders."""
    size: int
    format: str
    """Format chosen by content sniffing (``pickle``, ``pytorch-zip``, ``zip`` ...)."""
    digest: str | None
    findings: tuple[Finding, ...]
    seconds: float = 0.0
    imports: tuple[str, ...] = ()
    """``module:qualname`` of every global its pickles make a loader resolve, allowlisted or not."""


@dataclass(frozen=True)
class TargetReport:
    """One target the user named, resolved into files."""

    target: str
    root: str
    files: tuple[FileReport, ...]
    manifest_digest: str | None = None
    findings: tuple[Finding, ...] = ()
    """Findings about the target as a whole (resolution problems such as links leaving the folder)."""
    lock: str = ""
    """``match`` or ``mismatch`` against the lockfile entry of this target; empty when it has none."""
    publisher_tier: int | None = None
    """Reputation tier (1 best … 5 unknown) of a hub target's publisher; None for local targets."""
    signature: str = ""
    """``verified``, ``unsigned``, ``invalid`` or ``unavailable`` when the scan checked a signature
    (``scan --public-key`` / ``--trust-anchor``); empty when it was not asked to."""
    signer: str | None = None
    """Who signed, when the signature verified."""

    def iter_findings(self) -> Iterator[Finding]:
        """The target's own findings, then each file's."""
        yield from self.findings
        for report in self.files:
            yield from report.findings


@dataclass(frozen=True)
class ScanResult:
    """The answer to one scan: a report per target, in the order they were named."""

    targets: tuple[TargetReport, ...]
    tool_version: str
    seconds: float = 0.0

    def iter_findings(self) -> Iterator[Finding]:
        for target in self.targets:
            yield from target.iter_findings()

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(self.iter_findings())

    @property
    def file_count(self) -> int:
        return sum(len(t.files) for t in self.targets)

    def max_severity(self) -> Severity | None:
        return max((f.severity for f in self.iter_findings()), default=None)

    def fails(self, threshold: Severity) -> bool:
        worst = self.max_severity()
        return worst is not None and worst >= threshold
