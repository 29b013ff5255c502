"""``sandbox``: run a command or load a model inside the confined process, and read what it attempted.

The sandbox itself (namespaces, seccomp, Landlock, limits) lives in :mod:`modelseal.sandbox`; this is the
composition the CLI and the service call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelseal.core.findings import Finding
from modelseal.sandbox import IsolationLevel as IsolationLevel
from modelseal.sandbox import SandboxConfig as SandboxConfig
from modelseal.sandbox import SandboxLimits as SandboxLimits
from modelseal.sandbox import run as run
from modelseal.sandbox.result import SandboxResult as SandboxResult


@dataclass(frozen=True)
class SandboxRequest:
    """Load ``model`` for real inside the sandbox with ``loader`` (``auto`` picks by content)."""

    model: Path
    loader: str = "auto"
    config: SandboxConfig = field(default_factory=SandboxConfig)


@dataclass(frozen=True)
class SandboxLoad:
    """The sandbox's own result and what the load attempted, as findings (``MS-DYNAMIC-*``)."""

    result: SandboxResult
    findings: tuple[Finding, ...]


def sandbox(req: SandboxRequest) -> SandboxLoad:
    from modelseal.sandbox.dynamic import evidence_findings, load_in_sandbox

    result = load_in_sandbox(req.model, req.loader, req.config)
    return SandboxLoad(result, tuple(evidence_findings(result, str(req.model))))


def check_isolation() -> SandboxResult:
    """Start an empty sandbox to learn which isolation layers this host grants."""
    return run(["true"], SandboxConfig(limits=SandboxLimits(wall_seconds=30)))
