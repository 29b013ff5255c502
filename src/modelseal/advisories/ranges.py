"""Whether a PyPI version is affected: OSV ``ECOSYSTEM`` ranges and ``versions`` lists, compared by PEP 440.

The OSV algorithm: walk a range's events in version order up to the version asked about; ``introduced``
turns affected on, ``fixed`` turns it off at its own version, ``last_affected`` off just after its own.
"""

from __future__ import annotations

from functools import lru_cache

from packaging.version import InvalidVersion, Version

from modelseal.advisories.osv import Event, PackageRange

_ZERO = Version("0")


@lru_cache(maxsize=4096)
def _version(text: str) -> Version | None:
    try:
        return _ZERO if text == "0" else Version(text)
    except InvalidVersion:
        return None


def _in_range(events: tuple[Event, ...], version: Version) -> bool:
    ordered = sorted(
        ((v, e.kind) for e in events if e.kind != "limit" and (v := _version(e.version)) is not None),
        key=lambda pair: pair[0],
    )
    affected = False
    for at, kind in ordered:
        if at > version:
            break
        if kind == "introduced":
            affected = True
        elif kind == "fixed" or (kind == "last_affected" and at < version):
            affected = False
    return affected


def affects(package: PackageRange, version: str) -> bool:
    """True when ``version`` of ``package`` is listed or falls in one of its ranges. A version that is not
    PEP 440 matches only a listed string."""
    if version in package.versions:
        return True
    parsed = _version(version)
    if parsed is None:
        return False
    if any(_version(v) == parsed for v in package.versions):
        return True
    return any(_in_range(events, parsed) for events in package.ranges)


def fixed_versions(package: PackageRange) -> tuple[str, ...]:
    """The ``fixed`` versions the ranges name, lowest first: what to upgrade to."""
    found = {e.version for events in package.ranges for e in events if e.kind == "fixed"}
    return tuple(sorted(found, key=lambda v: _version(v) or _ZERO))
