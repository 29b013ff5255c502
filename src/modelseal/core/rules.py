"""Findings for catalogued rules. The catalogue (:mod:`modelseal.core.catalogue`) is imported with the first
finding rather than with the scanners: building its few hundred records is a measurable share of the start-up
of a scan that finds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelseal.core.findings import Finding, Location, Severity

if TYPE_CHECKING:
    from modelseal.core.catalogue import Rule


def rule(rule_id: str) -> Rule:
    from modelseal.core.catalogue import RULES

    return RULES[rule_id]


def make_finding(
    rule_id: str,
    message: str,
    *,
    severity: Severity | None = None,
    location: Location | None = None,
    evidence: str = "",
    file: str = "",
) -> Finding:
    """A finding for a catalogued rule, with the rule's severity and remediation unless overridden."""
    r = rule(rule_id)
    return Finding(
        rule_id=rule_id,
        severity=r.severity if severity is None else severity,
        message=message,
        file=file,
        location=location or Location(),
        evidence=evidence,
        remediation=r.remediation,
    )
