"""OSV records read into what modelseal matches on, checked field by field so a bad feed names its fault.

Two kinds of record share the schema. A *model advisory* lists model content under
``affected[].database_specific.modelseal``:
``{"files": ["sha256:<hex>"...], "manifests": ["sha256:<hex>"...]}`` (file digests and the manifest digest
``modelseal scan`` reports), with the repository as a ``GIT`` package whose purl is
``pkg:huggingface/org/name@revision`` (OSV has no ecosystem for models; a hub repository is a git repository).
A *package advisory* names a PyPI package with ``ECOSYSTEM`` ranges and/or a ``versions`` list.
Other ecosystems are read and ignored. Nothing here trusts the feed: every field used is type-checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelseal.core.errors import ModelsealError
from modelseal.core.findings import Severity

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_DIGESTS = 100_000
"""Digests one advisory may list; a feed past it is rejected rather than held in memory."""

_SEVERITY_WORDS = {
    "LOW": Severity.LOW,
    "MODERATE": Severity.MEDIUM,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}


class FeedError(ModelsealError):
    """A feed document is unusable; the message names the document and the field. The cache is unchanged."""

    hint = "fix or drop the feed named above and sync again; the previous advisory cache is still in use"

    def __init__(self, origin: str, field: str, problem: str) -> None:
        super().__init__(f"{origin}: {field}: {problem}")
        self.origin, self.field, self.problem = origin, field, problem


@dataclass(frozen=True)
class Event:
    """One ECOSYSTEM range event: exactly one of ``introduced``, ``fixed``, ``last_affected``, ``limit``."""

    kind: str
    version: str


@dataclass(frozen=True)
class PackageRange:
    """What one ``affected`` entry says about a PyPI package."""

    name: str
    """Canonical (PEP 503) name."""
    ranges: tuple[tuple[Event, ...], ...]
    versions: tuple[str, ...]


@dataclass(frozen=True)
class Advisory:
    """The parts of an OSV record modelseal matches and reports on."""

    id: str
    modified: str
    withdrawn: str | None
    summary: str
    severity: Severity
    malicious: bool
    aliases: tuple[str, ...]
    models: tuple[str, ...]
    """purls of the model repositories named (``pkg:huggingface/org/name@rev``)."""
    files: tuple[str, ...]
    manifests: tuple[str, ...]
    packages: tuple[PackageRange, ...]
    """PyPI packages affected."""
    bypasses_weights_only: bool
    """The advisory is about a ``torch.load(weights_only=True)`` bypass (its text says ``weights_only``)."""

    @property
    def active(self) -> bool:
        return self.withdrawn is None

    @property
    def title(self) -> str:
        return self.summary or self.id


def _need(cond: bool, origin: str, field: str, problem: str) -> None:
    if not cond:
        raise FeedError(origin, field, problem)


def _str(doc: dict[str, Any], key: str, origin: str, where: str, *, required: bool = False) -> str:
    value = doc.get(key)
    if value is None:
        _need(not required, origin, f"{where}{key}", "is required")
        return ""
    _need(isinstance(value, str), origin, f"{where}{key}", f"must be a string, not {type(value).__name__}")
    return str(value)


def _list(doc: dict[str, Any], key: str, origin: str, where: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    _need(isinstance(value, list), origin, f"{where}{key}", "must be a list")
    return list(value)


def _timestamp(value: str, origin: str, field: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FeedError(origin, field, f"{value!r} is not an RFC 3339 timestamp") from None
    return value


def canonical(name: str) -> str:
    """PEP 503 normalisation, as pip-audit and OSV's PyPI data use it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(doc: Any, origin: str) -> Advisory:
    """Read one OSV record. Raises :class:`FeedError` naming ``origin`` and the field at fault."""
    _need(isinstance(doc, dict), origin, "(record)", "must be a JSON object")
    ident = _str(doc, "id", origin, "", required=True)
    _need(bool(ident.strip()), origin, "id", "must not be empty")
    modified = _timestamp(_str(doc, "modified", origin, "", required=True), origin, "modified")
    withdrawn = _str(doc, "withdrawn", origin, "") or None
    if withdrawn is not None:
        _timestamp(withdrawn, origin, "withdrawn")
    summary = _str(doc, "summary", origin, "")
    details = _str(doc, "details", origin, "")
    aliases = tuple(_strings(_list(doc, "aliases", origin, ""), origin, "aliases"))
    db = doc.get("database_specific") or {}
    _need(isinstance(db, dict), origin, "database_specific", "must be an object")
    stated = [_severity(db, origin, "database_specific.")]
    malicious = ident.startswith("MAL-")
    models: list[str] = []
    files: list[str] = []
    manifests: list[str] = []
    packages: list[PackageRange] = []
    for i, affected in enumerate(_list(doc, "affected", origin, "")):
        where = f"affected[{i}]."
        _need(isinstance(affected, dict), origin, where[:-1], "must be an object")
        package = affected.get("package") or {}
        _need(isinstance(package, dict), origin, f"{where}package", "must be an object")
        ecosystem = _str(package, "ecosystem", origin, f"{where}package.")
        purl = _str(package, "purl", origin, f"{where}package.")
        local_db = affected.get("database_specific") or {}
        _need(isinstance(local_db, dict), origin, f"{where}database_specific", "must be an object")
        ours = local_db.get("modelseal")
        if ours is not None:
            field = f"{where}database_specific.modelseal"
            _need(isinstance(ours, dict), origin, field, "must be an object")
            files += _digests(ours, "files", origin, field)
            manifests += _digests(ours, "manifests", origin, field)
            malicious = malicious or ours.get("malicious") is True
            stated.append(_severity(ours, origin, f"{field}."))
            if purl:
                models.append(purl)
        if ecosystem == "PyPI":
            name = _str(package, "name", origin, f"{where}package.", required=True)
            packages.append(_package(affected, canonical(name), origin, where))
    _need(
        bool(files or manifests or packages) or withdrawn is not None or not doc.get("affected"),
        origin,
        "affected",
        "names neither model digests (database_specific.modelseal) nor a PyPI package",
    )
    severity = (
        Severity.CRITICAL if malicious else max((s for s in stated if s is not None), default=Severity.HIGH)
    )
    text = f"{summary}\n{details}".lower()
    return Advisory(
        ident,
        modified,
        withdrawn,
        summary,
        severity,
        malicious,
        aliases,
        tuple(models),
        tuple(dict.fromkeys(files)),
        tuple(dict.fromkeys(manifests)),
        tuple(packages),
        "weights_only" in text,
    )


def _strings(values: list[Any], origin: str, field: str) -> list[str]:
    for j, value in enumerate(values):
        _need(isinstance(value, str), origin, f"{field}[{j}]", "must be a string")
    return values


def _digests(ours: dict[str, Any], key: str, origin: str, field: str) -> list[str]:
    values = _strings(_list(ours, key, origin, f"{field}."), origin, f"{field}.{key}")
    _need(len(values) <= MAX_DIGESTS, origin, f"{field}.{key}", f"more than {MAX_DIGESTS} digests")
    for j, value in enumerate(values):
        _need(
            bool(DIGEST.fullmatch(value)),
            origin,
            f"{field}.{key}[{j}]",
            f"{value[:80]!r} is not sha256:<64 hex>",
        )
    return values


def _severity(db: dict[str, Any], origin: str, where: str) -> Severity | None:
    """The severity word a record states (GHSA's ``database_specific.severity``); None when it states none."""
    word = db.get("severity")
    if word is None:
        return None
    _need(
        isinstance(word, str) and word.upper() in _SEVERITY_WORDS,
        origin,
        f"{where}severity",
        f"{word!r} is not one of LOW, MODERATE, HIGH, CRITICAL",
    )
    return _SEVERITY_WORDS[str(word).upper()]


def _package(affected: dict[str, Any], name: str, origin: str, where: str) -> PackageRange:
    from packaging.version import InvalidVersion, Version

    ranges: list[tuple[Event, ...]] = []
    for r, item in enumerate(_list(affected, "ranges", origin, where)):
        field = f"{where}ranges[{r}]"
        _need(isinstance(item, dict), origin, field, "must be an object")
        kind = _str(item, "type", origin, f"{field}.", required=True)
        if kind != "ECOSYSTEM":  # GIT commit ranges say nothing about a released version
            continue
        events: list[Event] = []
        for e, event in enumerate(_list(item, "events", origin, f"{field}.")):
            efield = f"{field}.events[{e}]"
            _need(isinstance(event, dict) and len(event) == 1, origin, efield, "must hold exactly one event")
            ((key, value),) = event.items()
            _need(
                key in ("introduced", "fixed", "last_affected", "limit"),
                origin,
                efield,
                f"unknown event {key!r}",
            )
            _need(isinstance(value, str), origin, f"{efield}.{key}", "must be a string")
            if value != "0" and not (key == "limit" and value == "*"):
                try:
                    Version(value)
                except InvalidVersion:
                    raise FeedError(
                        origin, f"{efield}.{key}", f"{value[:80]!r} is not a PEP 440 version"
                    ) from None
            events.append(Event(key, value))
        _need(
            any(ev.kind == "introduced" for ev in events),
            origin,
            f"{field}.events",
            "needs an introduced event",
        )
        ranges.append(tuple(events))
    versions = tuple(_strings(_list(affected, "versions", origin, where), origin, f"{where}versions"))
    return PackageRange(name, tuple(ranges), versions)
