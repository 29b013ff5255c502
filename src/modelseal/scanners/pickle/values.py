"""Symbolic values on the machine's stack: what a pickle would build, without building it.

Constants are plain Python values (bounded in size by the reader); everything that would involve importing
or calling is represented by a record of what would have been imported or called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Containers keep this many items for analysis; the rest are counted, not stored, so memory stays bounded.
KEEP_ITEMS = 64


@dataclass(eq=False)
class Global:
    module: str
    name: str
    offset: int

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Call:
    """The result of REDUCE / NEWOBJ / INST / OBJ: ``callee(*args)``; ``state`` is set by BUILD."""

    callee: Any
    args: Any
    offset: int
    state: Any = None


@dataclass(eq=False)
class Seq:
    kind: str  # list, tuple, set, frozenset
    items: list[Any] = field(default_factory=list)
    dropped: int = 0

    def add(self, values: list[Any]) -> None:
        room = KEEP_ITEMS - len(self.items)
        if room > 0:
            self.items.extend(values[:room])
        self.dropped += max(0, len(values) - max(room, 0))


@dataclass(eq=False)
class Dict:
    items: list[tuple[Any, Any]] = field(default_factory=list)
    dropped: int = 0

    def add(self, pairs: list[tuple[Any, Any]]) -> None:
        room = KEEP_ITEMS - len(self.items)
        if room > 0:
            self.items.extend(pairs[:room])
        self.dropped += max(0, len(pairs) - max(room, 0))

    def get(self, key: str) -> Any:
        for k, v in self.items:
            if k == key:
                return v
        return None


@dataclass(eq=False)
class Blob:
    """A payload too large to keep (see ``LargePayload``): only its length and where it is."""

    length: int
    offset: int
    is_text: bool
    nested: Any = None
    """The ScanOutcome of the payload when it was scanned in place as nested content."""


@dataclass(eq=False)
class Persistent:
    """A persistent id: resolved by the loader (torch uses it for tensor storages)."""

    pid: Any


@dataclass(eq=False)
class Opaque:
    """A value whose content does not matter to the analysis (out-of-band buffers)."""

    what: str


def describe(value: Any, depth: int = 0) -> str:
    """A short, bounded rendering for evidence."""
    if depth > 2:
        return "…"
    if isinstance(value, Global):
        return f"{value.module}.{value.name}"
    if isinstance(value, Call):
        return f"{describe(value.callee, depth + 1)}(…)"
    if isinstance(value, Seq):
        inner = ", ".join(describe(v, depth + 1) for v in value.items[:4])
        more = ", …" if len(value.items) > 4 or value.dropped else ""
        return f"{value.kind}({inner}{more})"
    if isinstance(value, Dict):
        return f"dict({len(value.items) + value.dropped} items)"
    if isinstance(value, Blob):
        return f"<{'text' if value.is_text else 'bytes'} of {value.length} bytes>"
    if isinstance(value, (bytes, str)):
        shown = value[:40]
        return repr(shown) + ("…" if len(value) > 40 else "")
    if isinstance(value, Persistent):
        return f"persistent({describe(value.pid, depth + 1)})"
    if isinstance(value, Opaque):
        return value.what
    return repr(value)[:60]
