"""Name checks (look-alikes, internal names) with each publisher's tier, as text or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from modelseal.provenance.names import NameVerdict
from modelseal.reports.interface import JsonWriter, Writer


@dataclass(frozen=True)
class RatedName:
    """One checked hub id and its publisher's tier (1 best, 5 unknown)."""

    verdict: NameVerdict
    tier: int


class NamesText(Writer[Sequence[RatedName]]):
    name = "text"
    suffix = ".txt"

    def write(self, result: Sequence[RatedName], out: TextIO) -> None:
        for rated in result:
            v = rated.verdict
            reason = "; ".join(f"{f.rule_id}: {f.message}" for f in v.findings)
            out.write(
                f"{v.verdict:10} tier {rated.tier}  {v.model_id}" + (f"  ({reason})" if reason else "") + "\n"
            )


class NamesJson(JsonWriter[Sequence[RatedName]]):
    name = "json"

    def document(self, result: Sequence[RatedName]) -> Any:
        return [
            {
                "id": r.verdict.model_id,
                "verdict": r.verdict.verdict,
                "publisher_tier": r.tier,
                "findings": [
                    {"rule_id": f.rule_id, "severity": f.severity.label, "message": f.message}
                    for f in r.verdict.findings
                ],
            }
            for r in result
        ]
