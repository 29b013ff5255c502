"""Write docs/rules.md from the rule catalogue (a test checks it is current)."""

from __future__ import annotations

import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def render() -> str:
    from modelseal.core.catalogue import RULES

    lines = [
        "# Rules",
        "",
        "Generated from `src/modelseal/core/catalogue.py` by `tools/gen_rules_doc.py`. Rule ids are",
        "stable: SARIF results, policies and waivers refer to them.",
        "",
        "| id | severity | title | what it means | what to do |",
        "|---|---|---|---|---|",
    ]
    for rule in sorted(RULES.values(), key=lambda r: r.id):
        cells = [f"`{rule.id}`", rule.severity.label, rule.title, rule.description, rule.remediation]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)
