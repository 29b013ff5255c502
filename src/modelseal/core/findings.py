"""What a scanner saw: a severity-ranked, evidence-carrying record with a stable rule id."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(enum.IntEnum):
    """Ordered so that thresholds compare naturally (``sev >= Severity.HIGH``)."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r}; choose one of: {choices}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Location:
    """Where inside a file: a byte offset, an archive member path, a tensor name, or several.

    ``member`` is the path of nested containers joined by ``!/`` (``model.zip!/archive/data.pkl``),
    so a location stays meaningful when pickles nest in archives that nest in archives.
    """

    member: str = ""
    offset: int | None = None
    tensor: str = ""

    def describe(self) -> str:
        parts = []
        if self.member:
            parts.append(self.member)
        if self.tensor:
            parts.append(f"tensor {self.tensor}")
        if self.offset is not None:
            parts.append(f"offset {self.offset}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Finding:
    """One observation. ``rule_id`` is the stable key that SARIF, policies and waivers refer to."""

    rule_id: str
    severity: Severity
    message: str
    file: str = ""
    location: Location = field(default_factory=Location)
    evidence: str = ""
    remediation: str = ""

    def with_file(self, file: str) -> Finding:
        return Finding(
            self.rule_id, self.severity, self.message, file, self.location, self.evidence, self.remediation
        )

    def within(self, member: str) -> Finding:
        """The same finding seen from one container further out."""
        inner = self.location.member
        joined = f"{member}!/{inner}" if inner else member
        loc = Location(joined, self.location.offset, self.location.tensor)
        return Finding(
            self.rule_id, self.severity, self.message, self.file, loc, self.evidence, self.remediation
        )
