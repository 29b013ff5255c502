"""Which dtype each storage of a PyTorch zip checkpoint holds, read from ``data.pkl`` without unpickling.

``torch.save`` names every storage with a persistent id ``('storage', torch.<Type>Storage, key, location,
numel)`` and hands it to the call that rebuilds the tensor (``torch._utils._rebuild_tensor_v2`` and its
kin). The pickle scanner's own machine runs the pickle symbolically (its common opcodes compiled), and the
ids are taken from the arguments of the calls it makes: five times faster than decoding every opcode
again in Python, and with memo references, frames and every opcode resolved as the scanner resolves them.
The security analysis of the pickle stays the pickle scanner's: here findings are not kept, and byte
strings that hold nested content are not scanned again.
"""

from __future__ import annotations

from typing import Any

from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput, ScanOutcome
from modelseal.scanners.pickle.allowlist import default_allowlist
from modelseal.scanners.pickle.machine import Machine
from modelseal.scanners.pickle.opcodes import Op
from modelseal.scanners.pickle.values import Call, Global, Persistent, Seq

MAX_STORAGES = 1_000_000


def storage_dtypes(src: ByteSource, limits: Limits | None = None) -> dict[str, str]:
    """Map storage key (``data/<key>``) to its storage type name (``FloatStorage``)."""
    machine = _StorageMachine(src, limits or Limits())
    machine.run()
    return machine.dtypes


def _unread(item: ScanInput, ctx: ScanContext) -> ScanOutcome:
    """Nested content is the zip scanner's to scan, not this reading's."""
    return ScanOutcome("unscanned")


class _StorageMachine(Machine):
    """The pickle machine, noting the storage ids among the arguments of every call it judges."""

    def __init__(self, src: ByteSource, limits: Limits) -> None:
        super().__init__(src, ScanContext(limits, _unread), default_allowlist())
        self.dtypes: dict[str, str] = {}

    def _call(self, callee: Any, args: Any, op: Op, rebuild: bool = False) -> Call:
        if args.__class__ is Seq:
            for item in args.items:
                if item.__class__ is Persistent:
                    self._storage(item.pid)
        return super()._call(callee, args, op, rebuild)

    def _storage(self, pid: Any) -> None:
        if pid.__class__ is not Seq or len(pid.items) != 5 or len(self.dtypes) >= MAX_STORAGES:
            return
        tag, kind, key = pid.items[:3]
        if tag == "storage" and kind.__class__ is Global and key.__class__ is str:
            self.dtypes[key] = kind.name
