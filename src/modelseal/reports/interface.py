"""What every writer is: an interchangeable view of one document.

A document is what a composition returns: a scan's :class:`ScanResult`, a gate's verdicts, a model's BOM
facts, an inventory, a re-verification. Each kind has its writers (``--format`` values), all subclasses of
:class:`Writer`. Writers render; they decide nothing. Severity, the verdict against ``fail_on`` and digests
all come from the document, so the text, JSON and SARIF views of one scan always agree.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TextIO, TypeVar

from modelseal.core.errors import ModelsealError
from modelseal.core.findings import Severity
from modelseal.core.result import ScanResult


class ReportError(ModelsealError):
    """A report cannot be produced (unknown format name)."""

    hint = "choose a --format the command lists in its --help"


@dataclass(frozen=True)
class ReportOptions:
    """How to render, chosen by the caller (the CLI fills it from flags and the terminal)."""

    fail_on: Severity = Severity.HIGH
    """The threshold the caller gates on; reports state whether the result fails it."""
    color: bool = False
    """Styled output (text view only); the CLI turns it on when the report goes to a terminal."""
    width: int | None = None
    """Terminal width for the styled text view; None lets rich measure it."""
    base_dir: str | None = None
    """Folder that SARIF locations are made relative to (the repository root in CI); None: working folder."""


D = TypeVar("D")


class Writer(ABC, Generic[D]):
    """One output format of one kind of document. Subclasses set ``name`` and ``suffix`` and implement
    :meth:`write`."""

    name: ClassVar[str]
    """The ``--format`` value."""
    suffix: ClassVar[str]
    """The usual file name ending (``.json``, ``.sarif``)."""

    def __init__(self, options: ReportOptions | None = None) -> None:
        self.options = options or ReportOptions()

    @abstractmethod
    def write(self, result: D, out: TextIO) -> None:
        """Render ``result`` onto ``out``; the output ends with a newline."""

    def render(self, result: D) -> str:
        buffer = io.StringIO()
        self.write(result, buffer)
        return buffer.getvalue()


class ReportWriter(Writer[ScanResult]):
    """A view of a scan's result."""


class JsonWriter(Writer[D]):
    """A document written as one indented JSON value: subclasses build it."""

    suffix = ".json"

    @abstractmethod
    def document(self, result: D) -> Any:
        """The document as plain data."""

    def write(self, result: D, out: TextIO) -> None:
        import json

        out.write(json.dumps(self.document(result), indent=2))
        out.write("\n")


class JsonDocumentWriter(ReportWriter):
    """A format that is one JSON document (the JSON report, SARIF): subclasses build it, this writes it."""

    @abstractmethod
    def document(self, result: ScanResult) -> dict[str, Any]:
        """The report as plain data, ready for :func:`json.dump`."""

    def write(self, result: ScanResult, out: TextIO) -> None:
        """Indented on a terminal; compact elsewhere (files and pipes are read by programs, and the C
        encoder that compact output allows is several times faster on large repositories)."""
        import json

        indent = 2 if out.isatty() else None
        separators = None if indent else (",", ":")
        out.write(json.dumps(self.document(result), indent=indent, separators=separators, ensure_ascii=False))
        out.write("\n")


def severity_counts(result: ScanResult) -> dict[str, int]:
    """Findings per severity label, every level present, most severe first (the order reports show)."""
    seen = Counter(f.severity for f in result.iter_findings())
    return {s.label: seen.get(s, 0) for s in sorted(Severity, reverse=True)}


def format_counts(result: ScanResult) -> dict[str, int]:
    """Files per sniffed format, most common first."""
    seen = Counter(f.format for t in result.targets for f in t.files)
    return dict(sorted(seen.items(), key=lambda kv: (-kv[1], kv[0])))
