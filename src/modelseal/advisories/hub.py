"""Hugging Face's own signals, taken as inputs and never as verdicts: the ``lfs.sha256`` the hub records for
each file of a revision, compared with the local file, and the hub's security scan status per file.

The answer is ``model_info(repo, revision, files_metadata=True, securityStatus=True)`` as huggingface_hub
parses it (``siblings[].lfs.sha256``, ``securityRepoStatus.filesWithIssues[].level``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelseal.core.findings import Finding, Severity
from modelseal.core.rules import make_finding

if TYPE_CHECKING:
    from huggingface_hub.hf_api import ModelInfo

_LEVELS = {"unsafe": Severity.HIGH, "suspicious": Severity.MEDIUM, "caution": Severity.MEDIUM}


@dataclass(frozen=True)
class HubFile:
    """What the hub says about one file of the revision."""

    path: str
    sha256: str | None
    """``sha256:<hex>`` of an LFS file; None for a file kept in git."""
    status: str
    """The hub scan's level for the file (``unsafe``, ``suspicious``...); ``""`` when it raised nothing."""


@dataclass(frozen=True)
class HubSignals:
    files: tuple[HubFile, ...]
    scans_done: bool | None
    findings: tuple[Finding, ...]


def _issues(status: Any) -> dict[str, str]:
    if not isinstance(status, dict):
        return {}
    out = {}
    for item in status.get("filesWithIssues") or []:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            out[item["path"]] = str(item.get("level") or "unsafe").lower()
    return out


def hub_signals(info: ModelInfo, local: Mapping[str, str | None]) -> HubSignals:
    """The hub's record of each file against ``local`` (relpath → ``sha256:<hex>`` of the file on disk)."""
    status = getattr(info, "security_repo_status", None)
    issues = _issues(status)
    files, findings = [], []
    for sibling in info.siblings or []:
        lfs = sibling.lfs
        sha = f"sha256:{lfs.sha256}" if lfs is not None else None
        files.append(HubFile(sibling.rfilename, sha, issues.get(sibling.rfilename, "")))
        have = local.get(sibling.rfilename)
        if sha is not None and have is not None and have.startswith("sha256:") and have != sha:
            findings.append(
                make_finding(
                    "MS-ADVISORY-HUB-DIGEST-MISMATCH",
                    f"the hub records {sha[:19]}… for this file at revision {info.sha or '?'}; "
                    f"the local file is {have[:19]}…",
                    file=sibling.rfilename,
                    evidence=f"hub lfs.sha256={sha} local={have}",
                )
            )
    for path, level in sorted(issues.items()):
        if level in ("safe", ""):
            continue
        findings.append(
            make_finding(
                "MS-ADVISORY-HUB-UNSAFE",
                f"the Hugging Face security scan marks this file {level}",
                severity=_LEVELS.get(level, Severity.HIGH),
                file=path,
                evidence=f"securityRepoStatus.filesWithIssues level={level}",
            )
        )
    done = status.get("scansDone") if isinstance(status, dict) else None
    return HubSignals(tuple(files), done if isinstance(done, bool) else None, tuple(findings))


def fetch_model_info(repo_id: str, revision: str) -> ModelInfo | None:
    """The hub's answer for one revision, or None when the hub cannot be asked (offline, no package)."""
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:
        return None
    try:
        return HfApi().model_info(repo_id, revision=revision, files_metadata=True, securityStatus=True)
    except (HfHubHTTPError, OSError, ValueError):
        return None
