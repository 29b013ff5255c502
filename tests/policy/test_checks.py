"""Policy checks as small classes over the facts, and the all-of / any-of combinators."""

from __future__ import annotations

from modelseal.core.findings import Severity
from modelseal.policy.checks import (
    AllOf,
    AnyOf,
    Evaluation,
    FindingsCheck,
    LockfileCheck,
    ReputationCheck,
    SignatureCheck,
)
from modelseal.policy.context import EvaluationContext, FindingFact, LockFact, SignatureFact
from modelseal.policy.model import Policy

TIERS = Policy("test", "", {}).tiers


def _ev(**facts: object) -> Evaluation:
    return Evaluation(EvaluationContext("m", "prod", **facts), lambda _: None)  # type: ignore[arg-type]


def test_each_check_reads_only_its_fact() -> None:
    ev = _ev(
        findings=(FindingFact("MS-PICKLE-DANGEROUS-CALLABLE", Severity.CRITICAL, "a.pkl"),),
        signature=SignatureFact("verified", ("key:ab",)),
        lock=LockFact("mismatch", "a.pkl changed"),
        tier="individual",
    )
    found = FindingsCheck(Severity.HIGH).violation(ev)
    assert found is not None and "MS-PICKLE-DANGEROUS-CALLABLE" in found.message
    assert FindingsCheck(Severity.HIGH, ("MS-NAME-*",)).violation(ev) is None
    assert SignatureCheck().violation(ev) is None
    assert SignatureCheck(("key:cd",)).violation(ev) is not None
    lock = LockfileCheck().violation(ev)
    assert lock is not None and lock.always_block
    assert ReputationCheck("individual", TIERS).violation(ev) is None
    assert ReputationCheck("organisation", TIERS).violation(ev) is not None


def test_all_of_and_any_of() -> None:
    ev = _ev(signature=SignatureFact("unsigned"), lock=LockFact("verified"), tier="major-lab")
    signed, locked, reputable = SignatureCheck(), LockfileCheck(), ReputationCheck("organisation", TIERS)
    assert AllOf((locked, reputable)).violation(ev) is None
    both = AllOf((signed, locked, reputable)).violation(ev)
    assert both is not None and "not signed" in both.message and not both.always_block
    assert AnyOf((signed, locked)).violation(ev) is None  # locked is enough
    neither = AnyOf((signed, ReputationCheck("major-lab", TIERS))).violation(_ev(tier="unknown"))
    assert neither is not None and neither.message.startswith("none of:")
