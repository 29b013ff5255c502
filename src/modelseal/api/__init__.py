"""The library: every composition of the stages, one request record in, one result record out.

The CLI and the service are thin shells over these; none of them composes stages itself. Each target is
resolved once, and its resolution, digests, lock check, signature check, cache-record check and publisher
tier are passed to every later stage (see :mod:`modelseal.api.checks`).

Names are imported on first use, so that ``modelseal scan`` pays only for the scan.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from modelseal.integrity import AUTO_DIGEST_BYTES as AUTO_DIGEST_BYTES  # scan's default, for --help

if TYPE_CHECKING:
    from modelseal.api.behavior import (
        InspectDataRequest,
        InspectRequest,
        InspectResult,
        inspect,
        inspect_data,
    )
    from modelseal.api.examination import Examination, Examined, ScanRequest, examine
    from modelseal.api.gating import GateBlocked, GateRequest, GateResult, gate
    from modelseal.api.integrity import (
        LockRequest,
        LockResult,
        SignRequest,
        SignResult,
        VerifyRequest,
        VerifyResult,
        lock,
        sign,
        verify,
    )
    from modelseal.api.inventories import (
        InventoryRequest,
        InventoryResult,
        ReverifyRequest,
        ReverifyResult,
        inventory,
        reverify,
    )
    from modelseal.api.provenance import BomRequest, BomResult, NamesRequest, NamesResult, bom, names
    from modelseal.api.registry import bootstrap_admin, create_token, migrate_database
    from modelseal.api.sandboxing import SandboxRequest, SandboxResult, sandbox
    from modelseal.api.scanning import scan, scan_file
    from modelseal.api.sweeping import SweepRequest, SweepStarted, WorkerRequest, sweep, work

_MODULES = {
    "scanning": ("scan", "scan_file"),
    "examination": ("Examination", "Examined", "ScanRequest", "examine"),
    "gating": ("GateBlocked", "GateRequest", "GateResult", "gate"),
    "integrity": (
        "LockRequest",
        "LockResult",
        "SignRequest",
        "SignResult",
        "VerifyRequest",
        "VerifyResult",
        "lock",
        "sign",
        "verify",
    ),
    "provenance": ("BomRequest", "BomResult", "NamesRequest", "NamesResult", "bom", "names"),
    "inventories": (
        "InventoryRequest",
        "InventoryResult",
        "ReverifyRequest",
        "ReverifyResult",
        "inventory",
        "reverify",
    ),
    "behavior": ("InspectDataRequest", "InspectRequest", "InspectResult", "inspect", "inspect_data"),
    "sandboxing": ("SandboxRequest", "SandboxResult", "sandbox"),
    "registry": ("bootstrap_admin", "create_token", "migrate_database"),
    "sweeping": ("SweepRequest", "SweepStarted", "WorkerRequest", "sweep", "work"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "AUTO_DIGEST_BYTES",
    "BomRequest",
    "BomResult",
    "Examination",
    "Examined",
    "GateBlocked",
    "GateRequest",
    "GateResult",
    "InspectDataRequest",
    "InspectRequest",
    "InspectResult",
    "InventoryRequest",
    "InventoryResult",
    "LockRequest",
    "LockResult",
    "NamesRequest",
    "NamesResult",
    "ReverifyRequest",
    "ReverifyResult",
    "SandboxRequest",
    "SandboxResult",
    "ScanRequest",
    "SignRequest",
    "SignResult",
    "SweepRequest",
    "SweepStarted",
    "VerifyRequest",
    "VerifyResult",
    "WorkerRequest",
    "bom",
    "bootstrap_admin",
    "create_token",
    "examine",
    "gate",
    "inspect",
    "inspect_data",
    "inventory",
    "lock",
    "migrate_database",
    "names",
    "reverify",
    "sandbox",
    "scan",
    "scan_file",
    "sign",
    "sweep",
    "verify",
    "work",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"modelseal.api.{module}"), name)
