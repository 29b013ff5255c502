"""The inventory as a table, JSON or CSV: three views of the same assessments."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

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


def rows(assessments: list[Assessment]) -> list[dict[str, Any]]:
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


def to_json(assessments: list[Assessment]) -> str:
    return json.dumps({"models": rows(assessments)}, indent=2)


def to_csv(assessments: list[Assessment]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows(assessments):
        writer.writerow({k: row[k] for k in COLUMNS} | {"flags": " ".join(row["flags"])})
    return buf.getvalue()


def to_table(assessments: list[Assessment]) -> Any:
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
