"""The facts a policy decides on, gathered before evaluation into one plain frozen record.

The policy never calls a scanner, a verifier or a reputation source itself: the gate collects their
answers here, so the engine is testable alone and an input that could not be obtained is an explicit
``unavailable`` state that rules treat as a violation (fail closed), never as a pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelseal.core.findings import Severity
from modelseal.core.result import TargetReport


@dataclass(frozen=True)
class FileFact:
    path: str
    format: str
    """The sniffed format (``pickle``, ``pytorch-zip``, ``safetensors``...), ``unknown`` if none matched."""
    digest: str | None = None


@dataclass(frozen=True)
class FindingFact:
    rule_id: str
    severity: Severity
    file: str = ""
    file_digest: str | None = None
    message: str = ""


@dataclass(frozen=True)
class SignatureFact:
    state: str
    """``verified``, ``unsigned``, ``invalid`` or ``unavailable`` (could not be checked)."""
    signers: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class LockFact:
    state: str
    """``verified``, ``missing`` (no lockfile or no entry), ``mismatch`` (drift) or ``unavailable``."""
    detail: str = ""


UNAVAILABLE_SIGNATURE = SignatureFact("unavailable", detail="signature verification was not run")
UNAVAILABLE_LOCK = LockFact("unavailable", "lockfile check was not run")


@dataclass(frozen=True)
class EvaluationContext:
    model: str
    environment: str
    digest: str | None = None
    """The model's manifest digest: what waivers name."""
    files: tuple[FileFact, ...] = ()
    findings: tuple[FindingFact, ...] = ()
    signature: SignatureFact = UNAVAILABLE_SIGNATURE
    lock: LockFact = UNAVAILABLE_LOCK
    tier: str | None = None
    """The publisher's reputation tier; None when it could not be established."""
    publisher: str | None = None
    criticality: str = ""
    data_sensitivity: str = ""
    exposure: str = ""

    def to_document(self) -> dict[str, Any]:
        """Plain JSON-like data: what CEL expressions see as variables, and what the audit log records."""
        return {
            "model": self.model,
            "env": self.environment,
            "digest": self.digest or "",
            "files": [{"path": f.path, "format": f.format, "digest": f.digest or ""} for f in self.files],
            "formats": sorted({f.format for f in self.files}),
            "findings": [
                {
                    "rule_id": f.rule_id,
                    "severity": f.severity.label,
                    "severity_rank": int(f.severity),
                    "file": f.file,
                    "message": f.message,
                }
                for f in self.findings
            ],
            "signature": {"state": self.signature.state, "signers": list(self.signature.signers)},
            "lock": {"state": self.lock.state},
            "tier": self.tier or "",
            "publisher": self.publisher or "",
            "criticality": self.criticality,
            "data_sensitivity": self.data_sensitivity,
            "exposure": self.exposure,
        }


def facts_from_target(target: TargetReport) -> tuple[tuple[FileFact, ...], tuple[FindingFact, ...]]:
    """Files and findings of one scanned target, each finding tied to its file's digest."""
    files = tuple(FileFact(r.path, r.format, r.digest) for r in target.files)
    findings = [FindingFact(f.rule_id, f.severity, f.file, None, f.message) for f in target.findings]
    for report in target.files:
        findings += [
            FindingFact(f.rule_id, f.severity, f.file or report.path, report.digest, f.message)
            for f in report.findings
        ]
    return files, tuple(findings)
