"""Symbolic values on the machine's stack: what a pickle would build, without building it.

Constants are plain Python values (bounded in size by the reader); everything that would involve importing
or calling is represented by a record of what would have been imported or called.
"""

from __future__ import annotations

from typing import Any

# Containers keep this many items for analysis; the rest are counted, not stored, so memory stays bounded.
KEEP_ITEMS = 64

# Plain slotted classes rather than dataclasses: the machine makes one per container or call of a pickle
# (millions in a large one), and they are working state, compared by identity, never results.


class Global:
    __slots__ = ("key", "module", "name", "offset", "used")

    def __init__(self, module: str, name: str, offset: int) -> None:
        self.module, self.name, self.offset = module, name, offset
        self.key = (module, name)
        self.used = False
        """Called or rebuilt at least once (a name never used so is a reference)."""

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


class Call:
    """The result of REDUCE / NEWOBJ / INST / OBJ: ``callee(*args)``; ``state`` is set by BUILD."""

    __slots__ = ("args", "callee", "offset", "rebuilt", "state", "yields")

    def __init__(self, callee: Any, args: Any, offset: int, rebuilt: bool) -> None:
        self.callee, self.args, self.offset = callee, args, offset
        self.rebuilt = rebuilt
        """Made by ``__new__`` (NEWOBJ), so ``__init__`` never saw ``args``."""
        self.state: Any = None
        self.yields = False
        """The result is a callable or an attribute handed back (``functools.partial``, ``getattr``): safe
        only while nothing in the pickle calls it."""


class Seq:
    __slots__ = ("dropped", "items", "kind")

    def __init__(self, kind: str, items: list[Any] | None = None) -> None:
        self.kind = kind  # list, tuple, set, frozenset
        self.items: list[Any] = [] if items is None else items
        self.dropped = 0

    def add(self, values: list[Any]) -> None:
        """Keep up to :data:`KEEP_ITEMS` of ``values``; the caller hands over a list it no longer uses, which
        an empty container adopts rather than copies (millions of small tuples in a checkpoint)."""
        room = KEEP_ITEMS - len(self.items)
        if not self.items and len(values) <= room:
            self.items = values
            return
        if room > 0:
            self.items.extend(values[:room])
        self.dropped += max(0, len(values) - max(room, 0))


class Memo:
    """The pickle memo. Picklers store entries at the next free index, so those go in a list (8 bytes an
    entry, where a dict entry and its int key cost about 70: a checkpoint memoises hundreds of thousands);
    any other index goes in a dict. Every index in ``sparse`` is at least ``len(dense)``."""

    __slots__ = ("dense", "sparse")

    def __init__(self) -> None:
        self.dense: list[Any] = []
        self.sparse: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.dense) + len(self.sparse)

    def __contains__(self, index: int) -> bool:
        return 0 <= index < len(self.dense) or index in self.sparse

    def __getitem__(self, index: int) -> Any:
        if 0 <= index < len(self.dense):
            return self.dense[index]
        return self.sparse[index]

    def __setitem__(self, index: int, value: Any) -> None:
        dense = self.dense
        if 0 <= index < len(dense):
            dense[index] = value
        elif index == len(dense):
            dense.append(value)
            if self.sparse:
                self.sparse.pop(index, None)
        else:
            self.sparse[index] = value


class Dict:
    __slots__ = ("dropped", "items")

    def __init__(self) -> None:
        self.items: list[tuple[Any, Any]] = []
        self.dropped = 0

    def add(self, pairs: list[tuple[Any, Any]]) -> None:
        room = KEEP_ITEMS - len(self.items)
        if not self.items and len(pairs) <= room:
            self.items = pairs
            return
        if room > 0:
            self.items.extend(pairs[:room])
        self.dropped += max(0, len(pairs) - max(room, 0))

    def get(self, key: str) -> Any:
        for k, v in self.items:
            if k == key:
                return v
        return None


class Blob:
    """A payload too large to keep (see ``LargePayload``): only its length and where it is."""

    __slots__ = ("is_text", "length", "nested", "offset")

    def __init__(self, length: int, offset: int, is_text: bool) -> None:
        self.length, self.offset, self.is_text = length, offset, is_text
        self.nested: Any = None
        """The ScanOutcome of the payload when it was scanned in place as nested content."""


class Persistent:
    """A persistent id: resolved by the loader (torch uses it for tensor storages)."""

    __slots__ = ("pid",)

    def __init__(self, pid: Any) -> None:
        self.pid = pid


class Opaque:
    """A value whose content does not matter to the analysis (out-of-band buffers)."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


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


MEMO_ENTRY_BYTES = 72
"""Estimated cost of one memo slot (the dict entry and its key) besides the value."""


ESTIMATED_SIZES = (49, 112, 16, 64)
"""Bytes :func:`estimate` counts: a string or bytes besides its length, a container besides its items, one
kept item, any other value (the compiled loop is given these, not its own copy)."""


def estimate(value: Any) -> int:
    """Rough bytes held by a memoised value (containers as they are when memoised; what they gain later
    counts against the machine's budget of kept items)."""
    text, container, item, other = ESTIMATED_SIZES
    cls = value.__class__
    if value is None or cls is bool:
        return 0
    if cls is str or cls is bytes:
        return text + len(value)
    if cls is Seq or cls is Dict:
        return container + item * len(value.items)
    return other
