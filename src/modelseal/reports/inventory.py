"""The inventory as a table, JSON or CSV: three writers over the same assessments."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from modelseal.reports.interface import JsonWriter, Writer

if TYPE_CHECKING:
    from modelseal.inventory.risk import Assessment

COLUMNS = (
    "priority",
    "rating",
    "kind",
    "model",
    "revision",
    "location",
    "loader",
    "format",
    "publisher",
    "tier",
    "criticality",
    "data_sensitivity",
    "exposure",
    "flags",
)
_ORDER = {"immediate": 0, "scheduled": 1, "periodic": 2}


def rows(assessments: Sequence[Assessment]) -> list[dict[str, Any]]:
    """One flat record per entry, most urgent first."""
    out = []
    for a in sorted(
        assessments, key=lambda a: (_ORDER[a.priority], -a.likelihood - a.impact, a.reference.location)
    ):
        r = a.reference
        out.append(
            {
                "priority": a.priority,
                "rating": a.rating,
                "kind": r.kind,
                "model": r.model,
                "revision": r.revision or "",
                "location": r.location,
                "loader": r.loader,
                "format": r.format,
                "publisher": a.publisher,
                "tier": a.tier,
                "criticality": a.usage.criticality,
                "data_sensitivity": a.usage.data_sensitivity,
                "exposure": a.usage.exposure,
                "flags": list(r.flags),
                "rules": [f.rule_id for f in r.findings()],
            }
        )
    return out


def to_csv(assessments: Sequence[Assessment]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows(assessments):
        writer.writerow({k: row[k] for k in COLUMNS} | {"flags": " ".join(row["flags"])})
    return buf.getvalue()


def to_table(assessments: Sequence[Assessment]) -> Any:
    """A rich Table (rendered by the CLI)."""
    from rich.table import Table

    table = Table(title=f"{len(assessments)} model reference(s)")
    for col in ("priority", "rating", "model", "revision", "location", "loader", "tier", "flags"):
        table.add_column(col)
    for row in rows(assessments):
        rev = row["revision"]
        table.add_row(
            row["priority"],
            row["rating"],
            row["model"],
            rev[:12] if len(rev) == 40 else rev or "-",
            row["location"],
            row["loader"] or row["kind"],
            row["tier"],
            ", ".join(row["flags"]),
        )
    return table


class InventoryTable(Writer["Sequence[Assessment]"]):
    """A table for people, most urgent first."""

    name = "table"
    suffix = ".txt"

    def write(self, result: Sequence[Assessment], out: TextIO) -> None:
        from rich.console import Console

        Console(file=out, width=self.options.width or 200, no_color=not self.options.color).print(
            to_table(result)
        )


class InventoryJson(JsonWriter["Sequence[Assessment]"]):
    name = "json"

    def document(self, result: Sequence[Assessment]) -> Any:
        return {"models": rows(result)}


class InventoryCsv(Writer["Sequence[Assessment]"]):
    name = "csv"
    suffix = ".csv"

    def write(self, result: Sequence[Assessment], out: TextIO) -> None:
        out.write(to_csv(result))
