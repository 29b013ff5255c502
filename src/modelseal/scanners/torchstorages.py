"""Which dtype each storage of a PyTorch zip checkpoint holds, read from ``data.pkl`` without unpickling.

``torch.save`` names every storage with a persistent id ``('storage', torch.<Type>Storage, key, location,
numel)`` built from constants just before BINPERSID. Recognising that shape in the opcode stream (memo
references resolved) is all the weight statistics need; the security analysis of the pickle is the pickle
scanner's.
"""

from __future__ import annotations

from collections import deque

from modelseal.core.streams import ByteSource
from modelseal.scanners.pickle.opcodes import OpcodeReader

_CONSTANTS = frozenset(
    {
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
        "UNICODE",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG1",
        "INT",
        "GLOBAL",
    }
)
_PUTS = frozenset({"BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"})
_GETS = frozenset({"BINGET", "LONG_BINGET", "GET"})
MAX_STORAGES = 1_000_000


def storage_dtypes(src: ByteSource, max_line: int = 1 << 16) -> dict[str, str]:
    """Map storage key (``data/<key>``) to its storage type name (``FloatStorage``)."""
    memo: dict[object, object] = {}
    recent: deque[object] = deque(maxlen=6)  # MARK and the values pushed since, most recent last
    out: dict[str, str] = {}
    for op in OpcodeReader(src, max_line=max_line, max_inline=max_line):
        if op.name in _PUTS:
            memo[len(memo) if op.name == "MEMOIZE" else op.arg] = recent[-1] if recent else None
            continue
        if op.name in _GETS:
            recent.append(memo.get(op.arg))
        elif op.name in _CONSTANTS:
            recent.append(op.arg)
        elif op.name == "MARK":
            recent.append(_MARK)
        elif op.name == "TUPLE" and len(recent) == 6 and recent[0] is _MARK:
            recent.append(tuple(list(recent)[1:]))
        elif op.name == "BINPERSID" and recent and isinstance(recent[-1], tuple):
            pid = recent[-1]
            if (
                len(pid) == 5
                and pid[0] == "storage"
                and isinstance(pid[1], tuple)
                and isinstance(pid[2], str)
            ):
                out[pid[2]] = str(pid[1][1])
                if len(out) >= MAX_STORAGES:
                    break
            recent.append(None)
        elif op.name == "STOP":
            break
        else:
            recent.append(None)
    return out


_MARK = object()
