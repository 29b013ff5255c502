"""Writers for every document modelseal produces, chosen by ``--format`` the same way everywhere.

Scan reports: text (rich), JSON (versioned schema) and SARIF 2.1.0. Gate decisions: text, JSON. BOMs:
CycloneDX, SPDX. Inventories: table, JSON, CSV. Re-verification and name checks: text, JSON. Writers are
looked up by document kind and name and imported only when asked for, so a JSON or SARIF run never pays for
rich and a text run never pays for the other formats.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from modelseal.reports.interface import ReportError, ReportOptions, ReportWriter, Writer

FORMATS: dict[str, tuple[str, str]] = {
    "text": ("modelseal.reports.text", "TextReport"),
    "json": ("modelseal.reports.json", "JsonReport"),
    "sarif": ("modelseal.reports.sarif", "SarifReport"),
}
"""``--format`` name → (module, class) of scan reports; the order is the order the CLI lists them in."""

DOCUMENTS: dict[str, dict[str, tuple[str, str]]] = {
    "scan": FORMATS,
    "gate": {"text": ("modelseal.reports.gate", "GateText"), "json": ("modelseal.reports.gate", "GateJson")},
    "bom": {
        "cyclonedx": ("modelseal.reports.cyclonedx", "CycloneDxWriter"),
        "spdx": ("modelseal.reports.spdx", "SpdxWriter"),
    },
    "inventory": {
        "table": ("modelseal.reports.inventory", "InventoryTable"),
        "json": ("modelseal.reports.inventory", "InventoryJson"),
        "csv": ("modelseal.reports.inventory", "InventoryCsv"),
    },
    "reverify": {
        "text": ("modelseal.reports.reverify", "ReverifyText"),
        "json": ("modelseal.reports.reverify", "ReverifyJson"),
    },
    "names": {
        "text": ("modelseal.reports.names", "NamesText"),
        "json": ("modelseal.reports.names", "NamesJson"),
    },
}
"""Document kind → its ``--format`` names → (module, class); the first name is each command's default."""


def writer_for(document: str, name: str, options: ReportOptions | None = None) -> Writer[Any]:
    """The writer of format ``name`` for a kind of document; :class:`ReportError` naming the choices."""
    formats = DOCUMENTS[document]
    try:
        module, cls = formats[name]
    except KeyError:
        kind = "report" if document == "scan" else document
        raise ReportError(f"unknown {kind} format {name!r}; choose one of: {', '.join(formats)}") from None
    writer: type[Writer[Any]] = getattr(import_module(module), cls)
    return writer(options)


def get_writer(name: str, options: ReportOptions | None = None) -> ReportWriter:
    """A scan report writer."""
    writer = writer_for("scan", name, options)
    assert isinstance(writer, ReportWriter)
    return writer


__all__ = [
    "DOCUMENTS",
    "FORMATS",
    "ReportError",
    "ReportOptions",
    "ReportWriter",
    "Writer",
    "get_writer",
    "writer_for",
]
