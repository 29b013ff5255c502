"""The scanner plugin family: the protocol, the input it receives, and the context it may recurse through.

A scanner never opens files by itself: it reads the :class:`ScanInput` it is given and hands nested content
(archive members, decompressed streams, pickles inside byte strings) back to :meth:`ScanContext.nested`, which
sniffs it and dispatches it with the depth and decompression budgets of the whole file.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, BinaryIO

from modelseal.core.artifact import Artifact
from modelseal.core.errors import LimitExceeded
from modelseal.core.findings import Finding
from modelseal.core.limits import Limits
from modelseal.core.rules import make_finding
from modelseal.core.streams import CHUNK, ByteSource

SNIFF_BYTES = 512
MAX_RECORDED_IMPORTS = 10_000


@dataclass(frozen=True)
class ScanInput:
    """One blob of bytes to scan: a file, an archive member, a decompressed stream, a byte string."""

    source: ByteSource
    name: str
    """Display path: the file's relative path or the member's name inside its container."""
    size: int | None
    """Total size when known (files, stored members); None for streams."""
    fileobj: BinaryIO | None = None
    """A seekable view of the same bytes when one exists (files, stored zip members); containers that need
    random access use :meth:`ScanContext.seekable` instead of reading it directly."""
    disk_path: str | None = None
    """The file on disk these bytes are, for formats that refer to sibling files (ONNX external data); None
    for archive members and streams, whose siblings are not files on disk."""

    @property
    def head(self) -> bytes:
        return self.source.peek(SNIFF_BYTES)


@dataclass(frozen=True)
class ScanOutcome:
    """A scanner's answer: the format it recognised (possibly refined: ``pytorch-legacy``) and findings."""

    format: str
    findings: tuple[Finding, ...] = ()


class Scanner(abc.ABC):
    """A format. Implementations sit beside this module; :mod:`.registry` pairs each with the content
    signature (:mod:`.signatures`) that selects it, so a scanner is imported only when its format is seen."""

    format: str = ""
    """Short stable name, shown in reports and used by policies (``forbidden_formats``)."""

    @abc.abstractmethod
    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        """Analyse ``item``; raise nothing on hostile input: return findings instead."""


class ArtifactScanner(abc.ABC):
    """A concern that spans the files of a model (configs naming code, tokenizers, weights vs. config).

    Runs after the per-file scanners; reads files of the artifact through bounded reads only. Findings set
    ``file`` to the relative path they concern.
    """

    name: str = ""

    @abc.abstractmethod
    def scan_artifact(self, artifact: Artifact, ctx: ScanContext) -> tuple[Finding, ...]:
        """Analyse the artifact as a whole; never raise on hostile input."""


class Budget:
    """Resources shared by everything nested in one top-level file, and what its pickles import."""

    __slots__ = ("decompressed", "imports", "storage_types")

    def __init__(self) -> None:
        self.decompressed = 0
        self.imports: dict[str, None] = {}
        """``module:qualname`` of every global a loader of the file would resolve, in first-seen order."""
        self.storage_types: dict[str, dict[str, str]] = {}
        """Pickle member -> storage key -> storage type, of the torch checkpoint the file is, when the scan
        checks weights (see :attr:`ScanContext.storage_types`)."""

    def record_imports(self, pairs: list[tuple[str, str]]) -> None:
        for module, name in pairs:
            if len(self.imports) >= MAX_RECORDED_IMPORTS:
                return
            self.imports[f"{module}:{name}"] = None

    def add_decompressed(self, n: int, limits: Limits) -> None:
        self.decompressed += n
        if self.decompressed > limits.max_decompressed_bytes:
            raise LimitExceeded("decompressed size", limits.max_decompressed_bytes, self.decompressed)


@dataclass(frozen=True)
class ScanContext:
    """What a scanner may use besides its input: limits, the pickle allowlist, and recursion."""

    limits: Limits
    dispatch: Callable[[ScanInput, ScanContext], ScanOutcome]
    allowlist: object = None
    """The pickle allowlist (``modelseal.scanners.pickle.allowlist.Allowlist``); typed loosely here so the
    interface does not import a scanner."""
    depth: int = 0
    budget: Budget = field(default_factory=Budget)
    weight_statistics: bool = False
    """Stream every tensor's values for statistics (reads all weight bytes; off by default)."""
    nonfinite_check: bool = False
    """Look for tensors made only of NaN/Inf: set when the scan reads every byte anyway (hashing)."""
    storage_types: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    """For the artifact scanners: the storage types that the per-file scans run in this process took from
    each torch checkpoint's pickle (file -> :attr:`Budget.storage_types`), so that the weight checks do not
    read those pickles a second time."""

    def deeper(self) -> ScanContext:
        return replace(self, depth=self.depth + 1)

    def for_file(self) -> ScanContext:
        """The context of the next top-level file: depth 0 and a budget of its own, so that many large
        archives in one folder do not add up to one file's limit."""
        return replace(self, depth=0, budget=Budget())

    def nested(self, item: ScanInput) -> ScanOutcome:
        """Sniff and scan nested content; findings come back located inside ``item.name``."""
        if self.depth + 1 > self.limits.max_nesting_depth:
            return ScanOutcome(
                "unscanned",
                (
                    make_finding(
                        "MS-LIMIT-EXCEEDED",
                        f"nesting deeper than {self.limits.max_nesting_depth} levels; inner content not read",
                        evidence=f"depth {self.depth + 1}",
                    ).within(item.name),
                ),
            )
        outcome = self.dispatch(item, self.deeper())
        return ScanOutcome(outcome.format, tuple(f.within(item.name) for f in outcome.findings))

    def seekable(self, item: ScanInput) -> IO[bytes]:
        """Random access over ``item``: its own file object, or a spooled copy (in memory up to 16 MiB, then
        on disk) so that memory stays flat for nested archives of any size."""
        if item.fileobj is not None:
            item.fileobj.seek(0)
            return item.fileobj
        import tempfile

        spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 - the caller owns it
        while True:
            chunk = item.source.read_upto(CHUNK * 16)
            if not chunk:
                break
            spool.write(chunk)
        spool.seek(0)
        return spool
