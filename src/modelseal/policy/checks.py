"""The policy's checks: one small class per kind of check, and all-of / any-of combinators.

Each check looks at the facts (:class:`~modelseal.policy.context.EvaluationContext`) and returns the
:class:`Violation` it finds, or None. A check computes nothing itself: findings, digests, signature, lock
and tier were gathered before evaluation. A new kind of check is a class here, a line in ``CHECKS`` and
its documentation in docs/gate.md.
"""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelseal.core.findings import Severity
from modelseal.policy.context import EvaluationContext, FindingFact
from modelseal.policy.model import Check, Expression, Policy, Rule, Waiver

FindingWaiver = Callable[[FindingFact], "Waiver | None"]
"""The active waiver that covers a finding for this model, if any."""


@dataclass(frozen=True)
class Violation:
    message: str
    always_block: bool = False
    """Severe enough to block whatever the rule's ``on_violation`` says (a bad signature, lock drift)."""


@dataclass
class Evaluation:
    """What checks share while one policy is evaluated: the facts, the finding waivers, and the findings
    those waivers removed (reported beside the verdict)."""

    ctx: EvaluationContext
    waiver_for: FindingWaiver
    waived: list[tuple[FindingFact, Waiver]] = field(default_factory=list)


class PolicyCheck(ABC):
    """One check over the facts."""

    @abstractmethod
    def violation(self, ev: Evaluation) -> Violation | None:
        """The violation, or None when the facts satisfy the check."""


def _listed(items: Sequence[str]) -> str:
    return ", ".join(items[:5]) + (" ..." if len(items) > 5 else "")


@dataclass(frozen=True)
class FindingsCheck(PolicyCheck):
    """No unwaived finding at or above ``severity`` whose rule id matches one of ``rule_ids``."""

    severity: Severity
    rule_ids: tuple[str, ...] = ("*",)

    def violation(self, ev: Evaluation) -> Violation | None:
        hits = []
        for f in ev.ctx.findings:
            if f.severity < self.severity or not any(
                fnmatch.fnmatchcase(f.rule_id, p) for p in self.rule_ids
            ):
                continue
            waiver = ev.waiver_for(f)
            if waiver is None:
                hits.append(f)
            elif (f, waiver) not in ev.waived:
                ev.waived.append((f, waiver))
        if not hits:
            return None
        ids = sorted({f.rule_id for f in hits})
        return Violation(f"{len(hits)} finding(s) at or above {self.severity.label}: {_listed(ids)}")


@dataclass(frozen=True)
class FormatsCheck(PolicyCheck):
    """No file in a ``forbid`` format, and every file in an ``allow`` format when that list is given."""

    forbid: tuple[str, ...] = ()
    allow: tuple[str, ...] | None = None

    def violation(self, ev: Evaluation) -> Violation | None:
        bad = sorted(
            {
                f"{f.path} ({f.format})"
                for f in ev.ctx.files
                if f.format in self.forbid or (self.allow is not None and f.format not in self.allow)
            }
        )
        return Violation(f"format not permitted here: {_listed(bad)}") if bad else None


@dataclass(frozen=True)
class SignatureCheck(PolicyCheck):
    """A verified signature, by one of ``signers`` when they are named. An invalid one always blocks."""

    signers: tuple[str, ...] = ()

    def violation(self, ev: Evaluation) -> Violation | None:
        sig = ev.ctx.signature
        if sig.state == "invalid":
            return Violation(f"signature does not verify: {sig.detail or 'invalid'}", always_block=True)
        if sig.state != "verified":
            return Violation(f"model is not signed ({sig.state}{': ' + sig.detail if sig.detail else ''})")
        if self.signers and not set(sig.signers) & set(self.signers):
            return Violation(f"signed by {', '.join(sig.signers) or 'nobody'}, not by a required signer")
        return None


@dataclass(frozen=True)
class ReputationCheck(PolicyCheck):
    """The publisher's tier at least ``minimum`` in the policy's order of ``tiers`` (lowest first)."""

    minimum: str
    tiers: tuple[str, ...]

    def violation(self, ev: Evaluation) -> Violation | None:
        tier = ev.ctx.tier or self.tiers[0]
        rank = self.tiers.index(tier) if tier in self.tiers else 0
        if rank >= self.tiers.index(self.minimum):
            return None
        who = ev.ctx.publisher or "the publisher"
        return Violation(f"{who} has reputation tier {tier!r}, below the minimum {self.minimum!r}")


@dataclass(frozen=True)
class LockfileCheck(PolicyCheck):
    """The files match the model's lock entry. Drift always blocks."""

    def violation(self, ev: Evaluation) -> Violation | None:
        lock = ev.ctx.lock
        if lock.state == "verified":
            return None
        detail = f": {lock.detail}" if lock.detail else ""
        if lock.state == "mismatch":
            return Violation(f"files differ from the lockfile{detail}", always_block=True)
        return Violation(f"model is not locked ({lock.state}){detail}")


@dataclass(frozen=True)
class ExpressionCheck(PolicyCheck):
    """A CEL expression over the facts that must not hold (``violation_if``)."""

    expression: Expression
    message: str = ""

    def violation(self, ev: Evaluation) -> Violation | None:
        try:
            if not cel(self.expression, ev.ctx):
                return None
        except Exception as exc:
            return Violation(f"expression at {self.expression.origin} could not be evaluated ({exc})")
        return Violation(self.message or f"expression {self.expression.source!r} holds")


@dataclass(frozen=True)
class AllOf(PolicyCheck):
    """Every check must hold: violated when any is, with all their messages."""

    checks: tuple[PolicyCheck, ...]

    def violation(self, ev: Evaluation) -> Violation | None:
        found = [v for v in (c.violation(ev) for c in self.checks) if v is not None]
        if not found:
            return None
        return Violation("; ".join(v.message for v in found), any(v.always_block for v in found))


@dataclass(frozen=True)
class AnyOf(PolicyCheck):
    """One check must hold: violated only when every one is."""

    checks: tuple[PolicyCheck, ...]

    def violation(self, ev: Evaluation) -> Violation | None:
        found = []
        for check in self.checks:
            v = check.violation(ev)
            if v is None:
                return None
            found.append(v)
        return Violation(
            "none of: " + "; ".join(v.message for v in found), all(v.always_block for v in found)
        )


CHECKS: dict[Check, Callable[[Rule, Policy], PolicyCheck]] = {
    Check.FINDINGS: lambda r, _: FindingsCheck(r.severity, r.rule_ids),
    Check.FORMATS: lambda r, _: FormatsCheck(r.forbid, r.allow),
    Check.SIGNATURE: lambda r, _: SignatureCheck(r.signers),
    Check.REPUTATION: lambda r, p: ReputationCheck(r.minimum, p.tiers),
    Check.LOCKFILE: lambda r, _: LockfileCheck(),
    Check.EXPRESSION: lambda r, _: ExpressionCheck(_expression(r), r.message),
}
"""A policy rule's ``check`` → the check it runs, built from the rule's parameters."""


def _expression(rule: Rule) -> Expression:
    if rule.violation_if is None:
        raise ValueError(f"rule {rule.id}: an expression check needs violation_if")
    return rule.violation_if


def check_for(rule: Rule, policy: Policy) -> PolicyCheck:
    return CHECKS[rule.check](rule, policy)


def cel(expr: Expression, ctx: EvaluationContext) -> bool:
    """Evaluate a compiled CEL expression over the facts; anything but a boolean is an error."""
    from celpy import celtypes
    from celpy.adapter import json_to_cel

    activation: dict[str, Any] = {k: json_to_cel(v) for k, v in ctx.to_document().items()}
    result = expr.program.evaluate(activation)
    if isinstance(result, Exception):  # celpy returns some evaluation errors as values
        raise result
    if not isinstance(result, celtypes.BoolType):
        raise TypeError(f"gave {type(result).__name__}, not a boolean")
    return bool(result)
