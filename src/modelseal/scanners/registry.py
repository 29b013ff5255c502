"""The ordered scanner table and the dispatcher that sniffs content and runs the right scanner.

Each entry pairs a content signature with the scanner it selects, named by import path: a scanner's module
is imported the first time its format is seen, so scanning a pickle never imports the ONNX or Keras code.
Order matters only where signatures overlap; extensions never choose a scanner. The dispatcher is where
hostile input is contained: whatever a scanner raises becomes a finding, never a crash.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import Any

from modelseal.core.artifact import Artifact
from modelseal.core.errors import DecompressionBomb, LimitExceeded, Truncated
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding
from modelseal.scanners import signatures
from modelseal.scanners.interface import ArtifactScanner, ScanContext, ScanInput, Scanner, ScanOutcome

Sniff = Callable[[bytes], bool]

# (signature, scanner). A signature given as a string is itself imported lazily (it needs the scanner).
FILE_SCANNERS: tuple[tuple[Sniff | str, str], ...] = (
    (signatures.zip_archive, "modelseal.scanners.zip:ZipScanner"),
    (signatures.npy, "modelseal.scanners.numpy:NumpyScanner"),
    (signatures.seven_zip, "modelseal.scanners.sevenzip:SevenZipScanner"),
    (signatures.compressed, "modelseal.scanners.compressed:CompressedScanner"),
    (signatures.tar, "modelseal.scanners.tar:TarScanner"),
    (signatures.safetensors, "modelseal.scanners.safetensors:SafetensorsScanner"),
    (signatures.gguf, "modelseal.scanners.gguf:GgufScanner"),
    (signatures.hdf5, "modelseal.scanners.keras:Hdf5Scanner"),
    (signatures.savedmodel, "modelseal.scanners.savedmodel:SavedModelScanner"),
    (signatures.onnx, "modelseal.scanners.onnx:OnnxScanner"),
    (signatures.keras_metadata, "modelseal.scanners.keras:KerasMetadataScanner"),
    (signatures.pickle_with_proto, "modelseal.scanners.pickle.scanner:PickleScanner"),
    (
        "modelseal.scanners.pickle.scanner:plausible_protocol0",
        "modelseal.scanners.pickle.scanner:PickleScanner",
    ),
    ("modelseal.scanners.recognised:inert", "modelseal.scanners.recognised:InertScanner"),
    (signatures.text, "modelseal.scanners.recognised:TextScanner"),
)

_WEIGHT_FORMATS = frozenset({"safetensors", "pytorch-zip", "npy", "npz"})
Applies = Callable[[Sequence[str], Mapping[str, str], ScanContext], bool]
# (applies to the artifact, given its relative paths, sniffed formats and the context; scanner). The
# predicates are supersets of what each scanner looks at: they only save importing scanners with nothing
# to do.
ARTIFACT_SCANNERS: tuple[tuple[Applies, str], ...] = (
    (
        lambda paths, _, __: any(p.endswith((".json", ".jinja")) for p in paths),
        "modelseal.scanners.hfrepo:RepoScanner",
    ),
    (
        lambda paths, _, __: any(p.endswith((".py", ".pyw")) for p in paths),
        "modelseal.scanners.pycode:PythonCodeScanner",
    ),
    (
        lambda paths, _, __: any(p.endswith(".json") for p in paths),
        "modelseal.scanners.tokenizer:TokenizerScanner",
    ),
    (
        lambda paths, _, __: any(p.endswith((".txt", ".in", ".toml")) for p in paths),
        "modelseal.scanners.requirements:RequirementsScanner",
    ),
    (  # what Python or pip runs from the folder by itself (.pth, sitecustomize, setup.py, .pyc...)
        lambda paths, _, __: any(
            p.endswith((".pth", ".pyc", ".pyo", "customize.py", "setup.py", "setup.cfg", ".toml"))
            or p == "__init__.py"
            for p in paths
        ),
        "modelseal.scanners.installfiles:InstallFilesScanner",
    ),
    (  # architecture checks read safetensors headers; every other weight format only feeds statistics
        lambda _, formats, ctx: (
            "safetensors" in formats.values()
            or (
                (ctx.weight_statistics or ctx.nonfinite_check)
                and bool(_WEIGHT_FORMATS & set(formats.values()))
            )
        ),
        "modelseal.scanners.weights:WeightsScanner",
    ),
)


@functools.cache
def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    obj = getattr(import_module(module), name)
    return obj() if isinstance(obj, type) else obj


def scanner_for(head: bytes) -> Scanner | None:
    for sniff, target in FILE_SCANNERS:
        check: Sniff = _load(sniff) if isinstance(sniff, str) else sniff
        if check(head):
            scanner: Scanner = _load(target)
            return scanner
    return None


def run_artifact_scanners(artifact: Artifact, ctx: ScanContext, formats: Mapping[str, str]) -> list[Finding]:
    """Every artifact-level scanner that has something to look at, each contained like the per-file ones."""
    paths = [e.relpath for e in artifact.files]
    out: list[Finding] = []
    for applies, target in ARTIFACT_SCANNERS:
        if not applies(paths, formats, ctx):
            continue
        scanner: ArtifactScanner = _load(target)
        try:
            out.extend(scanner.scan_artifact(artifact, ctx))
        except Exception as exc:  # fail closed
            out.append(
                make_finding("MS-SCANNER-ERROR", f"{scanner.name} failed: {type(exc).__name__}: {exc}")
            )
    return out


def dispatch(item: ScanInput, ctx: ScanContext) -> ScanOutcome:
    """Sniff ``item`` and scan it with the first scanner that recognises it."""
    outcome = _dispatch(item, ctx)
    try:
        item.name.encode("utf-8")
    except UnicodeEncodeError:
        named = make_finding(
            "MS-FILE-NAME-NOT-UTF8",
            "the name is not valid UTF-8 (shown with its undecodable bytes escaped)",
            evidence=ascii(item.name)[:200],
        )
        return ScanOutcome(outcome.format, (named, *outcome.findings))
    return outcome


def _dispatch(item: ScanInput, ctx: ScanContext) -> ScanOutcome:
    head = item.head
    if not head:
        return ScanOutcome("empty")
    scanner = scanner_for(head)
    if scanner is None:
        from modelseal.scanners.recognised import raw_data_name

        if raw_data_name(item.name):
            return ScanOutcome("raw-data")
        from modelseal.scanners.pickle.scanner import record_text_imports

        record_text_imports(item, ctx)
        return ScanOutcome(
            "unknown",
            (
                make_finding(
                    "MS-FORMAT-UNKNOWN",
                    "content matches no known format nor any inert one; a loader may read it in a way "
                    "no scanner checked",
                    evidence=f"starts with {head[:16]!r}",
                ),
            ),
        )
    return contained(scanner, item, ctx)


def contained(scanner: Scanner, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
    """``scanner.scan(item)`` with whatever it raises on hostile input turned into a finding."""
    try:
        return scanner.scan(item, ctx)
    except DecompressionBomb as exc:
        return ScanOutcome(scanner.format, (make_finding("MS-ARCHIVE-BOMB", f"decompression bomb: {exc}"),))
    except LimitExceeded as exc:
        return ScanOutcome(scanner.format, (make_finding("MS-LIMIT-EXCEEDED", f"analysis stopped: {exc}"),))
    except RecursionError:
        return ScanOutcome(
            scanner.format, (make_finding("MS-LIMIT-EXCEEDED", "structure nested too deeply"),)
        )
    except Exception as exc:  # fail closed: a scanner bug on hostile input is a finding, not a crash
        if isinstance(exc, _damage_errors()):
            return ScanOutcome(
                scanner.format, (make_finding("MS-ARCHIVE-MALFORMED", f"content is damaged: {exc}"),)
            )
        return ScanOutcome(
            scanner.format,
            (
                make_finding(
                    "MS-SCANNER-ERROR", f"{scanner.format} scanner failed: {type(exc).__name__}: {exc}"
                ),
            ),
        )


_DECODER_ERRORS = (("zlib", "error"), ("lzma", "LZMAError"), ("zipfile", "BadZipFile"))


def _damage_errors() -> tuple[type[BaseException], ...]:
    """What damaged content raises: ours, and the errors of the decoders that scanners use. Taken from the
    decoder modules already imported (a module never imported raised nothing), so that dispatching a
    pickle does not import zipfile, lzma and zlib."""
    errors: list[type[BaseException]] = [Truncated, EOFError]
    for module, name in _DECODER_ERRORS:
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)
