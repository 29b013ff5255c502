"""A re-verification as text or JSON: what is new, changed, drifted or gone since the last run."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from modelseal.reports.interface import Writer

if TYPE_CHECKING:
    from modelseal.inventory.reverify import Reverification


class ReverifyText(Writer["Reverification"]):
    name = "text"
    suffix = ".txt"

    def write(self, result: Reverification, out: TextIO) -> None:
        if result.previous_tool_version and result.previous_tool_version != result.tool_version:
            out.write(
                f"modelseal {result.previous_tool_version} -> {result.tool_version}: rules may have changed\n"
            )
        for c in result.changes:
            state = "NEW" if c.first_seen else ("CHANGED" if c.worse else "unchanged")
            out.write(f"{state} {c.location}\n")
            for label, items in (
                ("new finding", c.new_findings),
                ("resolved", c.resolved_findings),
                ("drifted", c.drifted),
                ("added file", c.added),
                ("removed file", c.removed),
                ("lock", c.lock),
            ):
                for item in items:
                    out.write(f"  {label}: {item}\n")
            if c.error:
                out.write(f"  error: {c.error}\n")
        for gone in result.gone:
            out.write(f"GONE {gone}\n")


class ReverifyJson(Writer["Reverification"]):
    name = "json"
    suffix = ".json"

    def write(self, result: Reverification, out: TextIO) -> None:
        out.write(result.to_json() + "\n")
