"""Turns a policy and an evaluation context into a verdict with every reason behind it.

Order of precedence: a rule that does not apply (disabled, out of scope, ``when`` false) says nothing;
a violated rule in ``enforce`` mode decides (block beats review beats allow); ``warn`` and ``audit``
are reported but never decide. Waivers remove one finding or one rule's violation for one model
digest until they expire. A bypass turns the verdict into allow but keeps the original on record.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from modelseal.policy.context import EvaluationContext, FindingFact
from modelseal.policy.model import Check, Expression, Mode, Policy, Rule, Verdict, Waiver


@dataclass(frozen=True)
class Reason:
    rule_id: str
    check: str
    mode: Mode
    outcome: str
    """``block``, ``review``, ``warn``, ``audit`` or ``waived``."""
    message: str
    waiver: Waiver | None = None


@dataclass(frozen=True)
class Bypass:
    """An emergency override: both fields are required and it is always written to the audit log."""

    reason: str
    identity: str

    def __post_init__(self) -> None:
        if not self.reason.strip() or not self.identity.strip():
            raise ValueError("an emergency bypass needs a reason and an identity")


@dataclass(frozen=True)
class Decision:
    model: str
    environment: str
    digest: str | None
    verdict: Verdict
    evaluated: Verdict
    """The verdict before any bypass; equals ``verdict`` unless ``bypass`` is set."""
    reasons: tuple[Reason, ...]
    waived_findings: tuple[tuple[FindingFact, Waiver], ...] = ()
    expired_waivers: tuple[Waiver, ...] = ()
    bypass: Bypass | None = None
    policy: str = ""
    policy_digest: str = ""

    def to_document(self) -> dict[str, Any]:
        """What the audit log records and ``gate --format json`` prints."""
        return {
            "model": self.model,
            "environment": self.environment,
            "digest": self.digest,
            "verdict": self.verdict.label,
            "evaluated": self.evaluated.label,
            "policy": self.policy,
            "policy_digest": self.policy_digest,
            "reasons": [
                {
                    "rule": r.rule_id,
                    "check": r.check,
                    "mode": r.mode.value,
                    "outcome": r.outcome,
                    "message": r.message,
                }
                | ({"waiver": _waiver_doc(r.waiver)} if r.waiver else {})
                for r in self.reasons
            ],
            "waived_findings": [
                {"rule": f.rule_id, "file": f.file, "waiver": _waiver_doc(w)} for f, w in self.waived_findings
            ],
            "expired_waivers": [_waiver_doc(w) for w in self.expired_waivers],
            "bypass": {"reason": self.bypass.reason, "identity": self.bypass.identity}
            if self.bypass
            else None,
        }


def _waiver_doc(w: Waiver) -> dict[str, str]:
    return {
        "rule": w.rule,
        "digest": w.digest,
        "approver": w.approver,
        "justification": w.justification,
        "expires": w.expires.isoformat(),
    }


class _Waivers:
    """The policy's waivers that could apply to this model in this environment, split by expiry."""

    def __init__(self, waivers: Iterable[Waiver], ctx: EvaluationContext, today: date) -> None:
        relevant = [w for w in waivers if not w.environments or ctx.environment in w.environments]
        self.active = [w for w in relevant if w.active(today)]
        self.expired = [w for w in relevant if not w.active(today)]
        self.used_expired: list[Waiver] = []
        self.digest = ctx.digest

    def _find(self, rule_id: str, digests: set[str | None]) -> Waiver | None:
        digests.discard(None)
        for w in self.active:
            if w.rule == rule_id and w.digest in digests:
                return w
        for w in self.expired:
            if w.rule == rule_id and w.digest in digests and w not in self.used_expired:
                self.used_expired.append(w)
        return None

    def for_finding(self, f: FindingFact) -> Waiver | None:
        return self._find(f.rule_id, {self.digest, f.file_digest})

    def for_rule(self, rule: Rule) -> Waiver | None:
        return self._find(rule.id, {self.digest})


def _cel(expr: Expression, ctx: EvaluationContext) -> bool:
    """Evaluate a compiled CEL expression over the context; anything but a boolean is an error."""
    from celpy import celtypes
    from celpy.adapter import json_to_cel

    activation = {k: json_to_cel(v) for k, v in ctx.to_document().items()}
    result = expr.program.evaluate(activation)
    if isinstance(result, Exception):  # celpy returns some evaluation errors as values
        raise result
    if not isinstance(result, celtypes.BoolType):
        raise TypeError(f"gave {type(result).__name__}, not a boolean")
    return bool(result)


def _applies(rule: Rule, ctx: EvaluationContext) -> tuple[bool, str]:
    if rule.criticality and ctx.criticality not in rule.criticality:
        return False, ""
    if rule.data_sensitivity and ctx.data_sensitivity not in rule.data_sensitivity:
        return False, ""
    if rule.when is not None:
        try:
            return _cel(rule.when, ctx), ""
        except Exception as exc:
            return True, f"condition at {rule.when.origin} could not be evaluated ({exc}); applying the rule"
    return True, ""


def _violation(
    rule: Rule,
    ctx: EvaluationContext,
    policy: Policy,
    waivers: _Waivers,
    waived: list[tuple[FindingFact, Waiver]],
) -> tuple[str | None, bool]:
    """The violation message (None if the rule holds) and whether it is severe enough to always block."""
    if rule.check is Check.FINDINGS:
        hits = []
        for f in ctx.findings:
            if f.severity < rule.severity or not any(
                fnmatch.fnmatchcase(f.rule_id, p) for p in rule.rule_ids
            ):
                continue
            waiver = waivers.for_finding(f)
            if waiver is None:
                hits.append(f)
            elif (f, waiver) not in waived:
                waived.append((f, waiver))
        if not hits:
            return None, False
        ids = sorted({f.rule_id for f in hits})
        return (
            f"{len(hits)} finding(s) at or above {rule.severity.label}: {', '.join(ids[:5])}"
            + (" ..." if len(ids) > 5 else "")
        ), False
    if rule.check is Check.FORMATS:
        bad = sorted(
            {
                f"{f.path} ({f.format})"
                for f in ctx.files
                if f.format in rule.forbid or (rule.allow is not None and f.format not in rule.allow)
            }
        )
        if not bad:
            return None, False
        return f"format not permitted here: {', '.join(bad[:5])}" + (" ..." if len(bad) > 5 else ""), False
    if rule.check is Check.SIGNATURE:
        sig = ctx.signature
        if sig.state == "invalid":
            return f"signature does not verify: {sig.detail or 'invalid'}", True
        if sig.state != "verified":
            return f"model is not signed ({sig.state}{': ' + sig.detail if sig.detail else ''})", False
        if rule.signers and not set(sig.signers) & set(rule.signers):
            return f"signed by {', '.join(sig.signers) or 'nobody'}, not by a required signer", False
        return None, False
    if rule.check is Check.REPUTATION:
        tier = ctx.tier or policy.tiers[0]
        rank = policy.tiers.index(tier) if tier in policy.tiers else 0
        if rank >= policy.tiers.index(rule.minimum):
            return None, False
        who = ctx.publisher or "the publisher"
        return f"{who} has reputation tier {tier!r}, below the minimum {rule.minimum!r}", False
    if rule.check is Check.LOCKFILE:
        lock = ctx.lock
        if lock.state == "verified":
            return None, False
        detail = f": {lock.detail}" if lock.detail else ""
        if lock.state == "mismatch":
            return f"files differ from the lockfile{detail}", True
        return f"model is not locked ({lock.state}){detail}", False
    assert rule.violation_if is not None
    try:
        if not _cel(rule.violation_if, ctx):
            return None, False
    except Exception as exc:
        return f"expression at {rule.violation_if.origin} could not be evaluated ({exc})", False
    return rule.message or f"expression {rule.violation_if.source!r} holds", False


def evaluate(
    policy: Policy, ctx: EvaluationContext, *, today: date, bypass: Bypass | None = None
) -> Decision:
    """The verdict for one model in one environment, with every reason."""
    env = policy.environment(ctx.environment)
    waivers = _Waivers(policy.waivers, ctx, today)
    reasons: list[Reason] = []
    waived: list[tuple[FindingFact, Waiver]] = []
    verdict = Verdict.ALLOW
    for rule in env.rules:
        if rule.mode is Mode.DISABLED:
            continue
        applies, note = _applies(rule, ctx)
        if not applies:
            continue
        message, always_block = _violation(rule, ctx, policy, waivers, waived)
        if message is None:
            continue
        if note:
            message = f"{message} ({note})"
        rule_waiver = waivers.for_rule(rule)
        if rule_waiver is not None:
            reasons.append(Reason(rule.id, rule.check.value, rule.mode, "waived", message, rule_waiver))
            continue
        if rule.message and rule.check is not Check.EXPRESSION:
            message = f"{rule.message} ({message})"
        if rule.mode is Mode.ENFORCE:
            outcome = Verdict.BLOCK if always_block else rule.on_violation
            verdict = max(verdict, outcome)
            reasons.append(Reason(rule.id, rule.check.value, rule.mode, outcome.label, message))
        else:
            reasons.append(Reason(rule.id, rule.check.value, rule.mode, rule.mode.value, message))
    final = verdict
    if bypass is not None:
        if env.allow_bypass:
            final = Verdict.ALLOW
        else:
            reasons.append(
                Reason(
                    "bypass",
                    "bypass",
                    Mode.ENFORCE,
                    verdict.label,
                    f"emergency bypass is not allowed in environment {env.name!r}",
                )
            )
            bypass = None
    return Decision(
        model=ctx.model,
        environment=ctx.environment,
        digest=ctx.digest,
        verdict=final,
        evaluated=verdict,
        reasons=tuple(reasons),
        waived_findings=tuple(waived),
        expired_waivers=tuple(waivers.used_expired),
        bypass=bypass,
        policy=policy.source,
        policy_digest=policy.digest,
    )
