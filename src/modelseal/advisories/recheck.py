"""Re-checks on change: which deployed models an advisory newly affects since the last ``reverify``.

The state is a small JSON file beside the re-verification state: per model location, the advisory ids
that matched it, and the cache generation they were matched against.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelseal.core.findings import Finding

ADVISORY_RULES = ("MS-ADVISORY-MALICIOUS-MODEL", "MS-ADVISORY-MODEL")


@dataclass(frozen=True)
class NewlyAffected:
    """A deployed model an advisory lists now and did not at the last run."""

    location: str
    model: str
    advisory: str
    rule: str
    file: str
    """The file whose digest is listed; ``""`` for the manifest digest."""


def advisory_ids(findings: Sequence[Finding]) -> list[tuple[str, str, str]]:
    """(advisory id, rule, file) of each model-advisory finding (the id leads the evidence)."""
    return sorted(
        {(f.evidence.split(" ", 1)[0], f.rule_id, f.file) for f in findings if f.rule_id in ADVISORY_RULES}
    )


def state_path_for(reverify_state: Path) -> Path:
    return reverify_state.with_name(reverify_state.stem + ".advisories.json")


def recheck(
    now: Mapping[str, tuple[str, Sequence[Finding]]], state: Path, generation: int
) -> tuple[NewlyAffected, ...]:
    """``now`` maps each model location to (model, its findings). Saves this run; returns what is new."""
    try:
        before = json.loads(state.read_text(encoding="utf-8")) if state.is_file() else {}
    except (OSError, ValueError):
        before = {}
    previous = before.get("models", {}) if isinstance(before, dict) else {}
    fresh: list[NewlyAffected] = []
    models = {}
    for location, (model, findings) in sorted(now.items()):
        ids = advisory_ids(findings)
        models[location] = [list(i) for i in ids]
        seen = {tuple(i) for i in previous.get(location, [])} if isinstance(previous, dict) else set()
        fresh += [NewlyAffected(location, model, a, r, f) for a, r, f in ids if (a, r, f) not in seen]
    state.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.with_name(state.name + ".tmp")
    tmp.write_text(json.dumps({"generation": generation, "models": models}, indent=2), encoding="utf-8")
    tmp.replace(state)
    return tuple(fresh)
