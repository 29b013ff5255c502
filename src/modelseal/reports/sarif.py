"""SARIF 2.1.0 for GitHub code scanning and other SARIF consumers.

Model files have no lines, so each result points at the file (region line 1, which GitHub requires) and
names the archive member, byte offset or tensor as a logical location. Alerts are matched across runs by
``partialFingerprints``: a hash of the file's digest, the rule and the location inside the file, so an
alert survives re-scans and renames of the same content and a changed file gets a new alert.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelseal.core.catalogue import RULES, Rule
from modelseal.core.findings import Finding, Severity
from modelseal.core.result import ScanResult, TargetReport
from modelseal.reports.interface import JsonDocumentWriter
from modelseal.reports.json import escape_path

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "modelsealContentHash/v1"
"""Fingerprint from the file digest; every file with findings is hashed, so this is the usual key."""
PATH_FINGERPRINT_KEY = "modelsealPathHash/v1"
"""Fallback from the file path, for target-level findings and files without a digest (no file content)."""

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub ranks alerts by this CVSS-like score: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, < 4.0 low.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.8",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
}


class SarifReport(JsonDocumentWriter):
    name = "sarif"
    suffix = ".sarif"

    def document(self, result: ScanResult) -> dict[str, Any]:
        base = Path(os.path.abspath(self.options.base_dir or os.getcwd()))
        rule_ids = list(RULES)
        rule_ids += sorted({f.rule_id for f in result.iter_findings()} - set(RULES))
        index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
        artifacts: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for target in result.targets:
            digests = {r.path: r.digest for r in target.files}
            artifact_index = {}
            for report in target.files:
                artifact_index[report.path] = len(artifacts)
                artifacts.append(
                    _artifact(_location(base, target, report.path), report.size, report.digest, report.format)
                )
            for finding in target.iter_findings():
                loc = _location(base, target, finding.file)
                if finding.file in artifact_index:
                    loc = {**loc, "index": artifact_index[finding.file]}
                fingerprint = _fingerprint(finding, digests.get(finding.file), loc["uri"], seen)
                results.append(_result(finding, index[finding.rule_id], loc, fingerprint))
        return {
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "modelseal",
                            "version": result.tool_version,
                            "semanticVersion": result.tool_version,
                            "rules": [_rule(RULES.get(r), r) for r in rule_ids],
                        }
                    },
                    "invocations": [{"executionSuccessful": True}],
                    "artifacts": artifacts,
                    "results": results,
                    "properties": {
                        "manifestDigests": [
                            {"target": t.target, "digest": t.manifest_digest} for t in result.targets
                        ],
                        "failOn": self.options.fail_on.label,
                    },
                }
            ],
        }


def _location(base: Path, target: TargetReport, relpath: str) -> dict[str, Any]:
    """The file as a URI relative to ``base`` (the repository root) when it lies inside it, else absolute."""
    root = Path(os.path.abspath(target.root))  # not resolve(): keep links (HF snapshots) as named
    path = root if root.is_file() or not relpath else root / relpath
    try:
        relative = path.relative_to(base).as_posix()
    except ValueError:
        return {"uri": path.as_uri()}
    if escape_path(relative) != relative:  # a name that is not UTF-8: percent-encode its bytes
        relative = quote(relative, safe="/", errors="surrogateescape")
    return {"uri": relative, "uriBaseId": "%SRCROOT%"}


def _artifact(location: dict[str, Any], size: int, digest: str | None, fmt: str) -> dict[str, Any]:
    artifact: dict[str, Any] = {"location": location, "length": size, "properties": {"format": fmt}}
    if digest and digest.startswith("sha256:"):
        artifact["hashes"] = {"sha-256": digest.removeprefix("sha256:")}
    return artifact


def _rule(rule: Rule | None, rule_id: str) -> dict[str, Any]:
    if rule is None:  # a finding built outside the catalogue: describe it by its id rather than drop it
        return {"id": rule_id, "shortDescription": {"text": rule_id}, "properties": {"tags": ["security"]}}
    properties: dict[str, Any] = {"tags": ["security", rule.id.split("-")[1].lower()]}
    if rule.severity in _SECURITY_SEVERITY:
        properties["security-severity"] = _SECURITY_SEVERITY[rule.severity]
    return {
        "id": rule.id,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {
            "text": f"{rule.description}\n\nRemediation: {rule.remediation}",
            "markdown": f"**{rule.title}**\n\n{rule.description}\n\n**Remediation:** {rule.remediation}",
        },
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": properties,
    }


def _fingerprint(finding: Finding, digest: str | None, uri: str, seen: dict[str, int]) -> dict[str, str]:
    """Stable across runs; an occurrence counter separates identical findings (same content, rule, place)."""
    loc = finding.location
    where = f"{finding.rule_id}\0{loc.member}\0{loc.offset}\0{loc.tensor}"
    key, basis = (FINGERPRINT_KEY, digest) if digest else (PATH_FINGERPRINT_KEY, uri)
    value = hashlib.sha256(f"{basis}\0{where}".encode("utf-8", "surrogateescape")).hexdigest()
    seen[value] = occurrence = seen.get(value, 0) + 1
    return {key: f"{value}:{occurrence}"}


def _result(
    finding: Finding, rule_index: int, artifact: dict[str, Any], fingerprint: dict[str, str]
) -> dict[str, Any]:
    loc = replace(finding.location, member=escape_path(finding.location.member))
    location: dict[str, Any] = {
        "physicalLocation": {"artifactLocation": artifact, "region": {"startLine": 1}}
    }
    where = loc.describe()
    if where:
        location["logicalLocations"] = [
            {
                "name": loc.tensor or loc.member or f"offset {loc.offset}",
                "fullyQualifiedName": where,
                "kind": "resource",
            }
        ]
    properties: dict[str, Any] = {"severity": finding.severity.label}
    for name, value in (
        ("member", loc.member),
        ("offset", loc.offset),
        ("tensor", loc.tensor),
        ("evidence", finding.evidence),
        ("remediation", finding.remediation),
    ):
        if value or value == 0:
            properties[name] = value
    message = f"{finding.message} ({where})" if where else finding.message
    return {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity],
        "message": {"text": message},
        "locations": [location],
        "partialFingerprints": fingerprint,
        "properties": properties,
    }
