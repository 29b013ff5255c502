"""Dynamic evidence: load a model for real, inside the sandbox, and turn what it attempted into findings.

This complements the static scan (``modelseal scan --dynamic``): it shows behaviour the static analysis
can only infer, such as a payload reaching for the network. It never runs outside the sandbox.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding
from modelseal.sandbox.config import SandboxConfig
from modelseal.sandbox.result import RESOURCE_LIMIT_SIGNALS, Event, SandboxResult
from modelseal.sandbox.runner import output_folder, python_module, run

EVIDENCE_FILE = "evidence.jsonl"
_RULE_BY_KIND = {
    "process": "MS-DYNAMIC-PROCESS",
    "network": "MS-DYNAMIC-NETWORK",
    "file-write": "MS-DYNAMIC-FILE-WRITE",
    "import": "MS-DYNAMIC-IMPORT",
    "native-code": "MS-DYNAMIC-NATIVE-CODE",
    "tampered": "MS-DYNAMIC-EVIDENCE-TAMPERED",
    "limit": "MS-DYNAMIC-EVIDENCE-TAMPERED",
}
_OUTCOMES = ("load.ok", "load.error", "load.unavailable")
_RESOURCE_SIGNALS: dict[int, str] = {**RESOURCE_LIMIT_SIGNALS, signal.SIGKILL: "a hard limit"}


def load_in_sandbox(
    target: str | Path, loader: str = "auto", config: SandboxConfig | None = None
) -> SandboxResult:
    """Load ``target`` with its real loader inside the sandbox, recording what the load attempts."""
    config = config or SandboxConfig()
    path = Path(target).resolve()
    with output_folder(config, "modelseal-dynamic-") as (output, kept):
        evidence = ("--evidence", str(output / EVIDENCE_FILE))
        command = python_module("modelseal.sandbox.probe", "--loader", loader, *evidence, str(path))
        result = run(command, replace(config, output_dir=output), events_file=EVIDENCE_FILE)
    return result if kept else replace(result, output_dir="")


def dynamic_scan(
    target: str | Path,
    loader: str = "auto",
    config: SandboxConfig | None = None,
) -> tuple[Finding, ...]:
    """Findings from loading ``target`` in the sandbox: what it attempted, plus how the load ended."""
    return evidence_findings(load_in_sandbox(target, loader, config), str(target))


def evidence_findings(result: SandboxResult, file: str = "") -> tuple[Finding, ...]:
    """Map a sandboxed load to findings. Attempts are reported whether or not the sandbox stopped them:
    an attempt is what reveals the model."""
    found = [
        make_finding(
            "MS-SANDBOX-ISOLATION",
            f"dynamic analysis ran with {result.level.label} isolation",
            evidence=", ".join(layer.name for layer in result.layers if layer.active),
            file=file,
        )
    ]
    found.extend(_attempts(result.events, file))
    outcome = [e for e in result.events if e.kind == "load" and e.action in _OUTCOMES]
    limit = _RESOURCE_SIGNALS.get(result.signal, "") if result.signal is not None else ""
    stopped = result.killed_for or (f"{limit} limit" if limit else "")
    if stopped:
        found.append(
            make_finding(
                "MS-DYNAMIC-RESOURCE",
                f"the load was stopped: {stopped}",
                file=file,
                evidence=result.stopped_by,
            )
        )
    elif any(e.action == "load.error" and e.detail.startswith("MemoryError") for e in outcome):
        found.append(
            make_finding(
                "MS-DYNAMIC-RESOURCE",
                "the load ran out of memory under the sandbox limit",
                file=file,
                evidence=f"limit {result.limits.get('memory_bytes', 0):.0f} bytes",
            )
        )
    elif any(e.action == "load.unavailable" for e in outcome):
        detail = next(e.detail for e in outcome if e.action == "load.unavailable")
        found.append(
            make_finding(
                "MS-DYNAMIC-LOAD-FAILED",
                f"missing library: the loader's library is not installed, nothing was loaded ({detail})",
                file=file,
            )
        )
    elif any(e.action == "load.error" for e in outcome):
        detail = next(e.detail for e in outcome if e.action == "load.error")
        found.append(make_finding("MS-DYNAMIC-LOAD-FAILED", f"the loader raised: {detail}", file=file))
    elif result.refused:
        found.append(
            make_finding("MS-DYNAMIC-LOAD-FAILED", f"the sandbox did not start: {result.refused}", file=file)
        )
    elif not outcome:
        found.append(
            make_finding(
                "MS-DYNAMIC-EVIDENCE-TAMPERED",
                f"the recorder never reported an outcome ({result.stopped_by})",
                file=file,
            )
        )
    return tuple(found)


def _attempts(events: Iterable[Event], file: str) -> list[Finding]:
    found: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for event in events:
        rule_id = _RULE_BY_KIND.get(event.kind)
        key = (event.action, event.detail)
        if rule_id is None or key in seen:
            continue
        seen.add(key)
        found.append(
            make_finding(rule_id, f"{event.action} attempted while loading", evidence=event.detail, file=file)
        )
    return found
