"""Isolation layers and the level they add up to.

The level is computed from what was actually applied in the child (reported back by the launcher),
never from what the host merely advertises, so a result cannot claim more than it had.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class IsolationLevel(enum.IntEnum):
    """Ordered so that a policy can require a minimum (``reached >= IsolationLevel.MEDIUM``)."""

    WEAK = 0
    """Resource limits, a minimal environment and the timeout only: nothing in the kernel stops writes or
    network access."""
    MEDIUM = 1
    """Landlock confines writes, and seccomp or a network namespace cuts the network."""
    STRONG = 2
    """MEDIUM plus both seccomp and namespaces (network, user, pid): no network device, no syscall escape
    hatches, and every process dies with the sandbox."""

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> IsolationLevel:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown isolation level {text!r}; choose weak, medium or strong") from None


# Layer names, shared by the launcher (which applies them) and the level computation.
RLIMITS = "rlimits"
NO_NEW_PRIVS = "no_new_privs"
NAMESPACES = "namespaces"
LANDLOCK_FS = "landlock_fs"
LANDLOCK_NET = "landlock_tcp"
SECCOMP = "seccomp"


@dataclass(frozen=True)
class Layer:
    """One isolation mechanism and whether it is in force for the sandboxed process."""

    name: str
    active: bool
    detail: str = ""
    """What it covers when active (``ABI 7``), or why it is missing (``EPERM: user namespaces disabled``)."""

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "active": self.active, "detail": self.detail}

    @classmethod
    def from_json(cls, data: object) -> Layer:
        if not isinstance(data, dict):
            raise ValueError("layer record is not an object")
        return cls(str(data.get("name", "")), data.get("active") is True, str(data.get("detail", "")))


def level_of(layers: Iterable[Layer]) -> IsolationLevel:
    active = {layer.name for layer in layers if layer.active}
    base = {RLIMITS, NO_NEW_PRIVS} <= active
    writes_confined = LANDLOCK_FS in active
    if base and writes_confined and {SECCOMP, NAMESPACES} <= active:
        return IsolationLevel.STRONG
    if base and writes_confined and active & {SECCOMP, NAMESPACES}:
        return IsolationLevel.MEDIUM
    return IsolationLevel.WEAK
