"""Gate decisions as text for people or JSON for pipelines: two writers over the same verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from modelseal.reports.interface import JsonWriter, Writer

if TYPE_CHECKING:
    from modelseal.policy.evaluate import Decision


@dataclass(frozen=True)
class GateVerdict:
    """One gated model: its decision and where the audit log recorded it, or why no verdict was reached."""

    model: str
    decision: Decision | None = None
    audit_entry: int | None = None
    audit_log: str = ""
    error: str = ""
    """Set when the gate blocked without a verdict (audit log unusable)."""

    def document(self) -> dict[str, Any]:
        if self.decision is None:
            return {"model": self.model, "verdict": "block", "error": self.error}
        return self.decision.to_document() | {"audit_entry": self.audit_entry}


class GateText(Writer[Sequence[GateVerdict]]):
    """Each verdict, its reasons, waivers and bypass; models blocked without a verdict are said on stderr."""

    name = "text"
    suffix = ".txt"

    def write(self, result: Sequence[GateVerdict], out: TextIO) -> None:
        for v in result:
            if v.decision is not None:
                out.write(_text(v.decision, f"audit entry {v.audit_entry} in {v.audit_log}"))


def _text(decision: Decision, audit: str) -> str:
    lines = [f"{decision.verdict.label.upper()} {decision.model} (environment {decision.environment})"]
    if decision.bypass is not None:
        lines.append(
            f"  EMERGENCY BYPASS by {decision.bypass.identity}: {decision.bypass.reason} "
            f"(policy said {decision.evaluated.label})"
        )
    lines += [f"  [{r.outcome}] {r.rule_id}: {r.message}" for r in decision.reasons]
    lines += [
        f"  [waived] {f.rule_id} in {f.file or 'model'}: approved by {w.approver} until {w.expires}"
        for f, w in decision.waived_findings
    ]
    lines += [
        f"  [expired waiver] {w.rule} (approved by {w.approver}) expired on {w.expires}"
        for w in decision.expired_waivers
    ]
    lines.append(f"  digest {decision.digest or '-'}; policy {decision.policy}; {audit}")
    return "\n".join(lines) + "\n"


class GateJson(JsonWriter[Sequence[GateVerdict]]):
    """One document per model; a single model's is not wrapped in a list."""

    name = "json"

    def document(self, result: Sequence[GateVerdict]) -> Any:
        docs = [v.document() for v in result]
        return docs[0] if len(docs) == 1 else docs
