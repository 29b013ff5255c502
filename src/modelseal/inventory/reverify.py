"""Re-runs the scan and the lock check over the inventory and says what changed since the last run.

The previous run is a JSON state file (digests and finding keys per model). New findings can come
from newer rules in a newer modelseal, or from changed files; drift is a file whose digest changed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from modelseal.core.errors import ModelsealError
from modelseal.core.findings import Finding
from modelseal.core.result import ScanResult, TargetReport
from modelseal.core.rules import make_finding
from modelseal.inventory.model import Reference

ENV_STATE = "MODELSEAL_REVERIFY_STATE"
SCANNABLE = ("folder", "file", "hf-cache")


def default_state_path() -> Path:
    env = os.environ.get(ENV_STATE)
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("modelseal", appauthor=False)) / "reverify.json"


@dataclass(frozen=True)
class ModelChange:
    location: str
    model: str
    first_seen: bool
    new_findings: tuple[str, ...] = ()
    resolved_findings: tuple[str, ...] = ()
    drifted: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    lock: tuple[str, ...] = ()
    """Differences from the model's lockfile entry."""
    error: str = ""

    @property
    def worse(self) -> bool:
        return bool(
            self.new_findings or self.drifted or self.added or self.removed or self.lock or self.error
        )

    def findings(self) -> tuple[Finding, ...]:
        return tuple(
            make_finding(
                "MS-REVERIFY-DRIFT", f"{self.location}: {path} changed since the last run", file=path
            )
            for path in self.drifted
        )


@dataclass(frozen=True)
class Reverification:
    changes: tuple[ModelChange, ...]
    gone: tuple[str, ...]
    """Models in the previous run that the inventory no longer finds."""
    tool_version: str
    previous_tool_version: str

    @property
    def worse(self) -> bool:
        return any(c.worse for c in self.changes)

    def to_json(self) -> str:
        return json.dumps(
            {
                "tool_version": self.tool_version,
                "previous_tool_version": self.previous_tool_version,
                "worse": self.worse,
                "gone": list(self.gone),
                "models": [asdict(c) | {"rules": [f.rule_id for f in c.findings()]} for c in self.changes],
            },
            indent=2,
        )


def _finding_keys(target: TargetReport) -> list[str]:
    keys = [f"{f.rule_id} {f.file or '-'} {f.location.describe()}".rstrip() for f in target.findings]
    for report in target.files:
        keys += [f"{f.rule_id} {report.path} {f.location.describe()}".rstrip() for f in report.findings]
    return sorted(set(keys))


def _snapshot(target: TargetReport) -> dict[str, Any]:
    return {
        "digest": target.manifest_digest,
        "files": {r.path: r.digest for r in target.files},
        "findings": _finding_keys(target),
    }


def read_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"tool_version": "", "models": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelsealError(f"{path}: cannot read the previous re-verification state ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ModelsealError(f"{path}: not a re-verification state file")
    return data


def write_state(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def _compare(
    ref: Reference, before: dict[str, Any] | None, now: dict[str, Any], lock: tuple[str, ...]
) -> ModelChange:
    if before is None:
        return ModelChange(ref.location, ref.model, True, new_findings=tuple(now["findings"]), lock=lock)
    old_files, new_files = before.get("files", {}), now["files"]
    old_findings, new_findings = set(before.get("findings", [])), set(now["findings"])
    return ModelChange(
        ref.location,
        ref.model,
        False,
        new_findings=tuple(sorted(new_findings - old_findings)),
        resolved_findings=tuple(sorted(old_findings - new_findings)),
        drifted=tuple(sorted(p for p in new_files if p in old_files and new_files[p] != old_files[p])),
        added=tuple(sorted(set(new_files) - set(old_files))),
        removed=tuple(sorted(set(old_files) - set(new_files))),
        lock=lock,
    )


LockChecker = Callable[[Reference], tuple[str, ...]]


def reverify(
    refs: list[Reference],
    state_path: Path,
    *,
    scan: Callable[[str], ScanResult],
    lock_check: LockChecker | None = None,
) -> Reverification:
    """Scan every model the inventory found on disk, compare with the last run, save this run."""
    previous = read_state(state_path)
    models: dict[str, Any] = {}
    changes = []
    tool_version = ""
    for ref in refs:
        if ref.kind not in SCANNABLE or ref.location in models:
            continue
        try:
            result = scan(ref.location)
        except ModelsealError as exc:
            changes.append(
                ModelChange(ref.location, ref.model, ref.location not in previous["models"], error=str(exc))
            )
            continue
        tool_version = result.tool_version
        now = _snapshot(result.targets[0])
        models[ref.location] = now | {"model": ref.model}
        lock = lock_check(ref) if lock_check else ()
        changes.append(_compare(ref, previous["models"].get(ref.location), now, lock))
    gone = tuple(sorted(set(previous["models"]) - set(models) - {c.location for c in changes}))
    write_state(state_path, {"tool_version": tool_version, "models": models})
    return Reverification(tuple(changes), gone, tool_version, str(previous.get("tool_version", "")))
