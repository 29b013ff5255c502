"""Report writers: text (rich), JSON (versioned schema) and SARIF 2.1.0, interchangeable over one result.

Writers are looked up by name and imported only when asked for, so a JSON or SARIF run never pays for
rich and a text run never pays for the other formats.
"""

from __future__ import annotations

from importlib import import_module

from modelseal.reports.interface import ReportError, ReportOptions, ReportWriter

FORMATS: dict[str, tuple[str, str]] = {
    "text": ("modelseal.reports.text", "TextReport"),
    "json": ("modelseal.reports.json", "JsonReport"),
    "sarif": ("modelseal.reports.sarif", "SarifReport"),
}
"""``--format`` name → (module, class); the order is the order the CLI lists them in."""


def get_writer(name: str, options: ReportOptions | None = None) -> ReportWriter:
    try:
        module, cls = FORMATS[name]
    except KeyError:
        raise ReportError(f"unknown report format {name!r}; choose one of: {', '.join(FORMATS)}") from None
    writer: type[ReportWriter] = getattr(import_module(module), cls)
    return writer(options)


__all__ = ["FORMATS", "ReportError", "ReportOptions", "ReportWriter", "get_writer"]
