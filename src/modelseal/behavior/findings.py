"""Turn behavioural reports into catalogued findings (rule ids ``MS-BEHAVIOR-*``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelseal.core.findings import Finding, Location
from modelseal.core.rules import make_finding

if TYPE_CHECKING:
    from modelseal.behavior.poison import PoisonReport
    from modelseal.behavior.text import TextReport
    from modelseal.behavior.trigger import TriggerReport


def trigger_findings(report: TriggerReport, file: str = "") -> list[Finding]:
    if not report.suspected or report.target is None:
        return []
    top = report.classes[report.target]
    return [
        make_finding(
            "MS-BEHAVIOR-BACKDOOR",
            f"suspected backdoor with target class {report.target}: a trigger covering "
            f"{top.mask_size:.1%} of the input sends {top.attack_success:.0%} of other-class samples to it "
            f"(anomaly {report.score:.1f} > {report.threshold:.1f})",
            file=file,
            location=Location(tensor=f"class {report.target}"),
            evidence=f"mask_size={top.mask_size:.4f} perturbation={top.perturbation:.4f} "
            f"score={report.score:.2f}",
        )
    ]


def text_findings(report: TextReport, file: str = "") -> list[Finding]:
    if not report.suspected:
        return []
    return [
        make_finding(
            "MS-BEHAVIOR-TEXT-TRIGGER",
            f"token id {t.token} sends {t.flip_rate:.0%} of other-label sentences to class {t.target}",
            file=file,
            location=Location(tensor=f"class {t.target}"),
            evidence=f"token={t.token} score={t.score:.1f} perplexity_gain={t.perplexity_gain:.2f}",
        )
        for t in report.triggers
    ]


def poison_findings(report: PoisonReport, file: str = "") -> list[Finding]:
    return [
        make_finding(
            "MS-BEHAVIOR-POISONED-DATA",
            f"{c.suspected} of {c.samples} training samples labelled {c.label} look poisoned",
            file=file,
            location=Location(tensor=f"class {c.label}"),
            evidence=f"class_trigger_score={c.trigger_score:.2f}",
        )
        for c in report.classes
        if c.suspected
    ]
