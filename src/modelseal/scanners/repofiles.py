"""Bounded reads of the small text files of a model repository (configs, code, requirements).

Artifact scanners read files through these helpers only, so that a 50 GB file named ``config.json`` costs
one bounded read and a finding, never memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.findings import Finding
from modelseal.core.limits import Limits
from modelseal.core.rules import make_finding


def read_text(entry: FileEntry, limits: Limits, rule: str) -> tuple[str | None, list[Finding]]:
    """The file as text, or ``None`` and a finding (``rule``) when it is too large or unreadable."""
    if entry.size > limits.max_header_bytes:
        return None, [
            make_finding(
                "MS-LIMIT-EXCEEDED",
                f"{entry.relpath} is {entry.size} bytes, over the "
                f"{limits.max_header_bytes}-byte limit for text analysis",
                file=entry.relpath,
            )
        ]
    try:
        with open(entry.path, "rb") as fh:
            data = fh.read(limits.max_header_bytes + 1)
    except OSError as exc:
        return None, [
            make_finding(
                "MS-FILE-UNREADABLE", f"cannot read {entry.relpath}: {exc.strerror}", file=entry.relpath
            )
        ]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        return None, [make_finding(rule, f"{entry.relpath} is not UTF-8 text: {exc}", file=entry.relpath)]


def read_json(entry: FileEntry, limits: Limits, rule: str) -> tuple[Any, list[Finding]]:
    """The parsed JSON document, or ``None`` and a finding (``rule``: which kind of file it is) when it cannot
    be read or parsed."""
    text, findings = read_text(entry, limits, rule)
    if text is None:
        return None, findings
    try:
        return json.loads(text), []
    except (ValueError, RecursionError) as exc:
        return None, [
            make_finding(
                rule,
                f"{entry.relpath} is not valid JSON: {exc}"[:300],
                file=entry.relpath,
            )
        ]


def read_toml(entry: FileEntry, limits: Limits) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The parsed TOML document, or ``None`` and a finding when it cannot be read or parsed."""
    from modelseal.core.toml import TOMLDecodeError, loads

    text, findings = read_text(entry, limits, "MS-REQ-UNPARSEABLE")
    if text is None:
        return None, findings
    try:
        return loads(text), []
    except (TOMLDecodeError, RecursionError) as exc:
        return None, [
            make_finding(
                "MS-REQ-UNPARSEABLE", f"{entry.relpath} is not valid TOML: {exc}"[:300], file=entry.relpath
            )
        ]


def analyse_texts(
    artifact: Artifact,
    limits: Limits,
    wanted: Callable[[str], bool],
    rule: str,
    analyse: Callable[[str, str], list[Finding]],
) -> tuple[Finding, ...]:
    """``analyse(text, relpath)`` over every file whose relative path ``wanted`` accepts."""
    out: list[Finding] = []
    for entry in artifact.files:
        if not wanted(entry.relpath):
            continue
        text, problems = read_text(entry, limits, rule)
        out.extend(problems)
        if text is not None:
            out.extend(analyse(text, entry.relpath))
    return tuple(out)


def unsafe_member_name(name: str) -> str:
    """Why a relative path inside a model (an archive member, an external-data location) would escape the
    folder it is relative to, or ``""``."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return "parent-directory component"
    return ""
