"""The ordered list of scanners and the dispatcher that sniffs content and runs the right one.

Order matters only where signatures overlap; extensions never choose a scanner. The dispatcher is where
hostile input is contained: whatever a scanner raises becomes a finding, never a crash.
"""

from __future__ import annotations

import functools
import lzma
import zipfile
import zlib

from modelseal.core.artifact import Artifact
from modelseal.core.errors import DecompressionBomb, LimitExceeded, Truncated
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding
from modelseal.scanners.compressed import CompressedScanner
from modelseal.scanners.gguf import GgufScanner
from modelseal.scanners.hfrepo import RepoScanner
from modelseal.scanners.interface import (
    ArtifactScanner,
    ScanContext,
    ScanInput,
    Scanner,
    ScanOutcome,
    first_match,
)
from modelseal.scanners.keras import Hdf5Scanner, KerasMetadataScanner
from modelseal.scanners.numpy import NumpyScanner
from modelseal.scanners.onnx import OnnxScanner
from modelseal.scanners.pickle.scanner import PickleScanner
from modelseal.scanners.pycode import PythonCodeScanner
from modelseal.scanners.recognised import SignatureScanner, TextScanner
from modelseal.scanners.requirements import RequirementsScanner
from modelseal.scanners.safetensors import SafetensorsScanner
from modelseal.scanners.savedmodel import SavedModelScanner
from modelseal.scanners.sevenzip import SevenZipScanner
from modelseal.scanners.tar import TarScanner
from modelseal.scanners.tokenizer import TokenizerScanner
from modelseal.scanners.weights import WeightsScanner
from modelseal.scanners.zip import ZipScanner


@functools.cache
def default_scanners() -> tuple[Scanner, ...]:
    return (
        ZipScanner(),
        NumpyScanner(),
        SevenZipScanner(),
        CompressedScanner(),
        TarScanner(),
        SafetensorsScanner(),
        GgufScanner(),
        Hdf5Scanner(),
        SavedModelScanner(),
        OnnxScanner(),
        KerasMetadataScanner(),
        SignatureScanner(),
        PickleScanner(),
        TextScanner(),
    )


@functools.cache
def default_artifact_scanners() -> tuple[ArtifactScanner, ...]:
    return (RepoScanner(), PythonCodeScanner(), TokenizerScanner(), RequirementsScanner(), WeightsScanner())


def run_artifact_scanners(artifact: Artifact, ctx: ScanContext) -> list[Finding]:
    """Every artifact-level scanner, each contained like the per-file ones."""
    out: list[Finding] = []
    for scanner in default_artifact_scanners():
        try:
            out.extend(scanner.scan_artifact(artifact, ctx))
        except Exception as exc:  # fail closed
            out.append(make_finding("MS-SCANNER-ERROR", f"{scanner.name} failed: {type(exc).__name__}: {exc}"))
    return out


def dispatch(item: ScanInput, ctx: ScanContext) -> ScanOutcome:
    """Sniff ``item`` and scan it with the first scanner that recognises it."""
    head = item.head
    if not head:
        return ScanOutcome("empty")
    scanner = first_match(default_scanners(), head, item.name)
    if scanner is None:
        return ScanOutcome("unknown", (make_finding(
            "MS-FORMAT-UNKNOWN", "content matches no known format", evidence=f"starts with {head[:16]!r}"),))
    try:
        return scanner.scan(item, ctx)
    except DecompressionBomb as exc:
        return ScanOutcome(scanner.format, (make_finding("MS-ARCHIVE-BOMB", f"decompression bomb: {exc}"),))
    except LimitExceeded as exc:
        return ScanOutcome(scanner.format, (make_finding("MS-LIMIT-EXCEEDED", f"analysis stopped: {exc}"),))
    except (Truncated, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
        return ScanOutcome(scanner.format, (make_finding("MS-ARCHIVE-MALFORMED", f"content is damaged: {exc}"),))
    except RecursionError:
        return ScanOutcome(scanner.format, (make_finding("MS-LIMIT-EXCEEDED", "structure nested too deeply"),))
    except Exception as exc:  # fail closed: a scanner bug on hostile input is a finding, not a crash
        return ScanOutcome(scanner.format, (make_finding(
            "MS-SCANNER-ERROR", f"{scanner.format} scanner failed: {type(exc).__name__}: {exc}"),))
