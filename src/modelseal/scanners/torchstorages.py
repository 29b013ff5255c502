"""Which dtype each storage of a PyTorch zip checkpoint holds, read from ``data.pkl`` without unpickling.

``torch.save`` names every storage with a persistent id ``('storage', torch.<Type>Storage, key, location,
numel)`` and hands it to the call that rebuilds the tensor (``torch._utils._rebuild_tensor_v2`` and its
kin). The pickle scanner's own machine runs the pickle symbolically (its common opcodes compiled), and the
ids are taken from the arguments of the calls it makes: five times faster than decoding every opcode
again in Python, and with memo references, frames and every opcode resolved as the scanner resolves them.
The security analysis of the pickle stays the pickle scanner's: here findings are not kept, and byte
strings that hold nested content are not scanned again.

A scan that checks weights has its zip scanner collect the same ids while it reads the pickle anyway
(:class:`StorageTypes`); the weight checks then use those and read the pickle again only for files
scanned in another process.
"""

from __future__ import annotations

from typing import Any

from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput, ScanOutcome
from modelseal.scanners.pickle.allowlist import default_allowlist
from modelseal.scanners.pickle.machine import Machine
from modelseal.scanners.pickle.values import Global, Seq

MAX_STORAGES = 1_000_000


class StorageTypes:
    """Collects storage key (``data/<key>``) -> storage type name (``FloatStorage``) from the persistent ids
    the machine hands it (``Machine(persistent_calls=...)``), so that the zip scanner's own reading of a
    checkpoint's pickle can type its storages for the weight checks instead of a second reading."""

    __slots__ = ("dtypes",)

    def __init__(self) -> None:
        self.dtypes: dict[str, str] = {}

    def __call__(self, pid: Any) -> None:
        if pid.__class__ is not Seq or len(pid.items) != 5 or len(self.dtypes) >= MAX_STORAGES:
            return
        tag, kind, key = pid.items[:3]
        if tag == "storage" and kind.__class__ is Global and key.__class__ is str:
            self.dtypes[key] = kind.name


def checkpoint_pickle(name: str) -> bool:
    """Whether a member is where torch reads a checkpoint's pickle from (the first such one is used)."""
    return name == "data.pkl" or name.endswith("/data.pkl")


def storage_dtypes(src: ByteSource, limits: Limits | None = None) -> dict[str, str]:
    """Map storage key (``data/<key>``) to its storage type name (``FloatStorage``)."""
    seen = StorageTypes()
    Machine(src, ScanContext(limits or Limits(), _unread), default_allowlist(), persistent_calls=seen).run()
    return seen.dtypes


def _unread(item: ScanInput, ctx: ScanContext) -> ScanOutcome:
    """Nested content is the zip scanner's to scan, not this reading's."""
    return ScanOutcome("unscanned")
