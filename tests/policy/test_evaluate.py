"""Each verdict path, waivers and their expiry, bypasses and environment differences."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from modelseal.core.findings import Severity
from modelseal.policy.context import EvaluationContext, FileFact, FindingFact, LockFact, SignatureFact
from modelseal.policy.evaluate import Bypass, evaluate
from modelseal.policy.load import DEFAULT_POLICY, load_policy
from modelseal.policy.model import Verdict

DIGEST = "sha256:" + "ab" * 32
FILE_DIGEST = "sha256:" + "cd" * 32
TODAY = date(2026, 11, 25)

POLICY = f"""
modelseal-policy: 1
environments:
  dev:
    rules:
      - {{id: dev-findings, check: findings, severity: critical}}
  prod:
    allow-bypass: true
    rules:
      - {{id: high, check: findings, severity: high}}
      - {{id: medium, check: findings, severity: medium, on-violation: review}}
      - {{id: no-pickle, check: formats, forbid: [pickle], mode: warn}}
      - {{id: signed, check: signature, signers: [release@example.com], on-violation: review}}
      - {{id: locked, check: lockfile, on-violation: review}}
      - {{id: tier, check: reputation, minimum: organisation, on-violation: review}}
      - {{id: quiet, check: formats, allow: [safetensors], mode: audit}}
      - {{id: unused, check: findings, severity: info, mode: disabled}}
  locked-down:
    allow-bypass: false
    rules:
      - {{id: high, check: findings, severity: high}}
waivers:
  - rule: MS-PICKLE-UNKNOWN-CALLABLE
    digest: {FILE_DIGEST}
    justification: our own layer class, reviewed
    approver: sec@example.com
    expires: 2026-12-31
  - rule: medium
    digest: {DIGEST}
    justification: accepted risk
    approver: sec@example.com
    expires: 2026-01-01
"""

CLEAN = dict(
    digest=DIGEST,
    files=(FileFact("model.safetensors", "safetensors", FILE_DIGEST),),
    signature=SignatureFact("verified", ("release@example.com",)),
    lock=LockFact("verified"),
    tier="major-lab",
)


def ctx(env: str = "prod", **changes: Any) -> EvaluationContext:
    return EvaluationContext(**{"model": "m", "environment": env, **CLEAN, **changes})  # type: ignore[arg-type]


def finding(rule: str, sev: Severity, digest: str | None = FILE_DIGEST) -> FindingFact:
    return FindingFact(rule, sev, "model.bin", digest)


@pytest.fixture
def policy(write: Callable[[str], Path]):  # type: ignore[no-untyped-def]
    return load_policy(write(POLICY))


def prod_policy(write: Callable[[str], Path], rules: str):  # type: ignore[no-untyped-def]
    """A policy with one environment, ``prod``, holding the given YAML rule list."""
    return load_policy(
        write("modelseal-policy: 1\nenvironments:\n  prod:\n    rules:\n" + rules.lstrip("\n"))
    )


def verdict(policy, *args: str, **changes: Any) -> Verdict:  # type: ignore[no-untyped-def]
    return evaluate(policy, ctx(*args, **changes), today=TODAY).verdict


def outcomes(decision) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r.rule_id: r.outcome for r in decision.reasons}


def test_clean_model_is_allowed(policy) -> None:  # type: ignore[no-untyped-def]
    d = evaluate(policy, ctx(), today=TODAY)
    assert d.verdict is Verdict.ALLOW and d.reasons == ()


def test_high_finding_blocks(policy) -> None:  # type: ignore[no-untyped-def]
    d = evaluate(
        policy, ctx(findings=(finding("MS-PICKLE-DANGEROUS-CALLABLE", Severity.CRITICAL),)), today=TODAY
    )
    assert d.verdict is Verdict.BLOCK
    assert outcomes(d) == {"high": "block", "medium": "review"}


def test_medium_finding_needs_review(policy) -> None:  # type: ignore[no-untyped-def]
    d = evaluate(policy, ctx(findings=(finding("MS-FORMAT-UNKNOWN", Severity.MEDIUM),)), today=TODAY)
    assert d.verdict is Verdict.REVIEW
    assert outcomes(d) == {"medium": "review"}


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"signature": SignatureFact("unsigned")}, "signed"),
        ({"signature": SignatureFact("verified", ("someone@else.org",))}, "signed"),
        ({"signature": SignatureFact("unavailable")}, "signed"),
        ({"lock": LockFact("missing")}, "locked"),
        ({"lock": LockFact("unavailable")}, "locked"),
        ({"tier": "individual"}, "tier"),
        ({"tier": None}, "tier"),
    ],
)
def test_provenance_gaps_need_review(policy, change: dict[str, Any], rule: str) -> None:  # type: ignore[no-untyped-def]
    d = evaluate(policy, ctx(**change), today=TODAY)
    assert d.verdict is Verdict.REVIEW
    assert outcomes(d) == {rule: "review"}


@pytest.mark.parametrize(
    "change",
    [{"signature": SignatureFact("invalid", detail="digest mismatch")}, {"lock": LockFact("mismatch")}],
)
def test_tampering_always_blocks(policy, change: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    assert verdict(policy, **change) is Verdict.BLOCK


def test_warn_and_audit_never_decide(policy) -> None:  # type: ignore[no-untyped-def]
    files = (FileFact("model.pkl", "pickle", FILE_DIGEST),)
    d = evaluate(policy, ctx(files=files), today=TODAY)
    assert d.verdict is Verdict.ALLOW
    assert outcomes(d) == {"no-pickle": "warn", "quiet": "audit"}


def test_active_waiver_removes_the_finding(policy) -> None:  # type: ignore[no-untyped-def]
    f = finding("MS-PICKLE-UNKNOWN-CALLABLE", Severity.HIGH)
    d = evaluate(policy, ctx(findings=(f,)), today=TODAY)
    assert d.verdict is Verdict.ALLOW
    assert [w.approver for _, w in d.waived_findings] == ["sec@example.com"]


def test_waiver_for_another_digest_does_not_apply(policy) -> None:  # type: ignore[no-untyped-def]
    f = finding("MS-PICKLE-UNKNOWN-CALLABLE", Severity.HIGH, digest="sha256:" + "00" * 32)
    d = evaluate(policy, ctx(findings=(f,), digest="sha256:" + "11" * 32), today=TODAY)
    assert d.verdict is Verdict.BLOCK


def test_waiver_expires(policy) -> None:  # type: ignore[no-untyped-def]
    f = finding("MS-PICKLE-UNKNOWN-CALLABLE", Severity.HIGH)
    assert evaluate(policy, ctx(findings=(f,)), today=date(2026, 12, 31)).verdict is Verdict.ALLOW
    d = evaluate(policy, ctx(findings=(f,)), today=date(2027, 1, 1))
    assert d.verdict is Verdict.BLOCK
    # the medium rule's own waiver expired long ago and is reported too
    assert {w.rule for w in d.expired_waivers} == {"MS-PICKLE-UNKNOWN-CALLABLE", "medium"}


def test_rule_waiver_and_its_expiry(policy) -> None:  # type: ignore[no-untyped-def]
    f = finding("MS-FORMAT-UNKNOWN", Severity.MEDIUM)
    d = evaluate(policy, ctx(findings=(f,)), today=date(2025, 12, 1))
    assert d.verdict is Verdict.ALLOW and outcomes(d) == {"medium": "waived"}
    d = evaluate(policy, ctx(findings=(f,)), today=TODAY)
    assert d.verdict is Verdict.REVIEW and [w.rule for w in d.expired_waivers] == ["medium"]


def test_environments_differ(policy) -> None:  # type: ignore[no-untyped-def]
    c = {
        "findings": (finding("MS-PICKLE-CALL-ON-OBJECT", Severity.HIGH),),
        "signature": SignatureFact("unsigned"),
    }
    assert verdict(policy, "dev", **c) is Verdict.ALLOW
    assert verdict(policy, "prod", **c) is Verdict.BLOCK


def test_bypass_allows_but_keeps_the_evaluated_verdict(policy) -> None:  # type: ignore[no-untyped-def]
    c = ctx(findings=(finding("MS-PICKLE-CALL-ON-OBJECT", Severity.HIGH),))
    d = evaluate(policy, c, today=TODAY, bypass=Bypass("incident 42 hotfix", "oncall@example.com"))
    assert d.verdict is Verdict.ALLOW and d.evaluated is Verdict.BLOCK
    assert d.bypass and d.to_document()["bypass"] == {
        "reason": "incident 42 hotfix",
        "identity": "oncall@example.com",
    }


def test_bypass_refused_where_forbidden(policy) -> None:  # type: ignore[no-untyped-def]
    c = ctx("locked-down", findings=(finding("MS-PICKLE-CALL-ON-OBJECT", Severity.HIGH),))
    d = evaluate(policy, c, today=TODAY, bypass=Bypass("please", "me"))
    assert d.verdict is Verdict.BLOCK and d.bypass is None
    assert "bypass" in outcomes(d)


@pytest.mark.parametrize(("reason", "identity"), [("", "me"), ("why", " "), ("  ", "")])
def test_bypass_needs_reason_and_identity(reason: str, identity: str) -> None:
    with pytest.raises(ValueError):
        Bypass(reason, identity)


def test_scope_by_criticality_and_sensitivity(write: Callable[[str], Path]) -> None:
    policy = prod_policy(
        write,
        """
      - id: crit-signed
        check: signature
        applies-to: {criticality: [high, critical], data-sensitivity: [restricted]}
""",
    )
    unsigned: dict[str, Any] = {"signature": SignatureFact("unsigned")}
    assert (
        evaluate(
            policy, ctx(criticality="low", data_sensitivity="restricted", **unsigned), today=TODAY
        ).verdict
        is Verdict.ALLOW
    )
    assert verdict(policy, criticality="high", data_sensitivity="public", **unsigned) is Verdict.ALLOW
    assert (
        evaluate(
            policy, ctx(criticality="critical", data_sensitivity="restricted", **unsigned), today=TODAY
        ).verdict
        is Verdict.BLOCK
    )


def test_cel_conditions(write: Callable[[str], Path]) -> None:
    pytest.importorskip("celpy")
    policy = prod_policy(
        write,
        """
      - id: no-pickle-for-internet-facing
        check: expression
        violation-if: 'exposure == "internet" && formats.exists(f, f == "pickle")'
        message: internet-facing services load no pickles
      - id: tier-when-sensitive
        check: reputation
        minimum: major-lab
        when: 'data_sensitivity in ["confidential", "restricted"]'
        on-violation: review
""",
    )
    pickle = (FileFact("m.pkl", "pickle"),)
    d = evaluate(policy, ctx(exposure="internet", files=pickle), today=TODAY)
    assert d.verdict is Verdict.BLOCK and d.reasons[0].message == "internet-facing services load no pickles"
    assert verdict(policy, exposure="internal", files=pickle) is Verdict.ALLOW
    assert verdict(policy, tier="organisation", data_sensitivity="public") is Verdict.ALLOW
    assert verdict(policy, tier="organisation", data_sensitivity="restricted") is Verdict.REVIEW


def test_cel_runtime_error_fails_closed(write: Callable[[str], Path]) -> None:
    pytest.importorskip("celpy")
    policy = prod_policy(
        write,
        """
      - {id: broken, check: expression, violation-if: 'signature.no_such_field == 1'}
""",
    )
    d = evaluate(policy, ctx(), today=TODAY)
    assert d.verdict is Verdict.BLOCK and "could not be evaluated" in d.reasons[0].message


def test_shipped_default_is_strict_in_prod() -> None:
    policy = load_policy(DEFAULT_POLICY)
    high = {"findings": (finding("MS-PICKLE-UNKNOWN-CALLABLE", Severity.HIGH),)}
    assert verdict(policy, "prod", **high) is Verdict.BLOCK
    assert verdict(policy, "dev", **high) is Verdict.ALLOW
    assert verdict(policy, "prod", signature=SignatureFact("unsigned")) is Verdict.REVIEW
    assert verdict(policy, "prod", lock=LockFact("missing")) is Verdict.REVIEW
    assert verdict(policy, "prod") is Verdict.ALLOW
    assert (
        evaluate(
            policy,
            ctx("dev", signature=SignatureFact("unsigned"), lock=LockFact("missing"), tier=None),
            today=TODAY,
        ).verdict
        is Verdict.ALLOW
    )
