"""What the guard raises or warns with; both name the findings so the message alone says what to do."""

from __future__ import annotations

from collections.abc import Sequence

from modelseal.core.errors import ModelsealError
from modelseal.core.findings import Finding


def describe(findings: Sequence[Finding], limit: int = 3) -> str:
    parts = []
    for f in findings[:limit]:
        where = ", ".join(x for x in (f.file, f.location.describe()) if x)
        parts.append(f"{f.rule_id} ({f.severity.label}){f' in {where}' if where else ''}: {f.message}")
    more = len(findings) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class ModelBlocked(ModelsealError):
    """A guarded loader refused to load: the file (or a pickled global) failed the check."""

    def __init__(self, loader: str, target: str, findings: Sequence[Finding]) -> None:
        self.loader = loader
        self.target = target
        self.findings = tuple(findings)
        super().__init__(f"modelseal blocked {loader}({target}): {describe(self.findings)}")


class GuardWarning(UserWarning):
    """Emitted instead of :class:`ModelBlocked` in warn mode."""
