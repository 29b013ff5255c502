"""The policy's typed form. Parsing and validation live in :mod:`modelseal.policy.load`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from modelseal.core.errors import ConfigError
from modelseal.core.findings import Severity
from modelseal.core.tiers import LOWEST_FIRST


class Mode(enum.Enum):
    """What a violated rule does: decide (enforce), show (warn), only record (audit), or nothing."""

    ENFORCE = "enforce"
    WARN = "warn"
    AUDIT = "audit"
    DISABLED = "disabled"


class Verdict(enum.IntEnum):
    """Ordered so that the worst of several verdicts is ``max``."""

    ALLOW = 0
    REVIEW = 1
    BLOCK = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Check(enum.Enum):
    FINDINGS = "findings"
    FORMATS = "formats"
    SIGNATURE = "signature"
    REPUTATION = "reputation"
    LOCKFILE = "lockfile"
    EXPRESSION = "expression"


@dataclass(frozen=True)
class Expression:
    """A CEL expression, compiled when the policy is loaded so a typo is a load error."""

    source: str
    origin: str
    """``file:line`` where it was written, for messages."""
    program: Any = field(compare=False, repr=False)


@dataclass(frozen=True)
class Rule:
    id: str
    check: Check
    mode: Mode = Mode.ENFORCE
    on_violation: Verdict = Verdict.BLOCK
    message: str = ""
    origin: str = ""
    # findings
    severity: Severity = Severity.HIGH
    rule_ids: tuple[str, ...] = ("*",)
    """Glob patterns over finding rule ids that this rule counts."""
    # formats
    allow: tuple[str, ...] | None = None
    forbid: tuple[str, ...] = ()
    # signature
    signers: tuple[str, ...] = ()
    # reputation
    minimum: str = ""
    # applicability
    criticality: tuple[str, ...] = ()
    data_sensitivity: tuple[str, ...] = ()
    when: Expression | None = None
    violation_if: Expression | None = None


@dataclass(frozen=True)
class Environment:
    name: str
    rules: tuple[Rule, ...]
    allow_bypass: bool = True


@dataclass(frozen=True)
class Waiver:
    rule: str
    """A policy rule id or a finding rule id."""
    digest: str
    """The model's manifest digest, or (for a finding) the digest of the file it is in."""
    justification: str
    approver: str
    expires: date
    environments: tuple[str, ...] = ()
    """Empty: every environment."""
    origin: str = ""

    def active(self, today: date) -> bool:
        return today <= self.expires


@dataclass(frozen=True)
class Policy:
    source: str
    digest: str
    """``sha256:`` of the policy text, recorded with each verdict."""
    environments: dict[str, Environment]
    waivers: tuple[Waiver, ...] = ()
    tiers: tuple[str, ...] = LOWEST_FIRST
    """Reputation tiers from lowest to highest (the publisher catalogue's tiers 5 to 1)."""
    criticality_classes: tuple[str, ...] = ("low", "medium", "high", "critical")
    sensitivity_classes: tuple[str, ...] = ("public", "internal", "confidential", "restricted")

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(
                f"{self.source}: no environment {name!r} (the policy defines: {known})"
            ) from None
