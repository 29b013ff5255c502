"""Turns a policy and an evaluation context into a verdict with every reason behind it. Pure: facts in,
verdict out; each rule runs its check from :mod:`modelseal.policy.checks`.

Order of precedence: a rule that does not apply (disabled, out of scope, ``when`` false) says nothing;
a violated rule in ``enforce`` mode decides (block beats review beats allow); ``warn`` and ``audit``
are reported but never decide. Waivers remove one finding or one rule's violation for one model
digest until they expire. A bypass turns the verdict into allow but keeps the original on record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from modelseal.policy.checks import Evaluation, cel, check_for
from modelseal.policy.context import EvaluationContext, FindingFact
from modelseal.policy.model import Check, Mode, Policy, Rule, Verdict, Waiver


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


def _applies(rule: Rule, ctx: EvaluationContext) -> tuple[bool, str]:
    if rule.criticality and ctx.criticality not in rule.criticality:
        return False, ""
    if rule.data_sensitivity and ctx.data_sensitivity not in rule.data_sensitivity:
        return False, ""
    if rule.when is not None:
        try:
            return cel(rule.when, ctx), ""
        except Exception as exc:
            return True, f"condition at {rule.when.origin} could not be evaluated ({exc}); applying the rule"
    return True, ""


def evaluate(
    policy: Policy, ctx: EvaluationContext, *, today: date, bypass: Bypass | None = None
) -> Decision:
    """The verdict for one model in one environment, with every reason."""
    env = policy.environment(ctx.environment)
    waivers = _Waivers(policy.waivers, ctx, today)
    reasons: list[Reason] = []
    ev = Evaluation(ctx, waivers.for_finding)
    verdict = Verdict.ALLOW
    for rule in env.rules:
        if rule.mode is Mode.DISABLED:
            continue
        applies, note = _applies(rule, ctx)
        if not applies:
            continue
        found = check_for(rule, policy).violation(ev)
        if found is None:
            continue
        message, always_block = found.message, found.always_block
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
        waived_findings=tuple(ev.waived),
        expired_waivers=tuple(waivers.used_expired),
        bypass=bypass,
        policy=policy.source,
        policy_digest=policy.digest,
    )
