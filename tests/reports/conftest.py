"""Scan results built from the core types, so report tests do not depend on what scanners find."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelseal.core.findings import Finding, Location, Severity
from modelseal.core.result import FileReport, ScanResult, TargetReport
from modelseal.core.rules import make_finding


def digest(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


def build_result(root: Path, *, digests: bool = True) -> ScanResult:
    """Two targets: a model folder (a malicious pickle, a zip checkpoint, a clean file, an escaping link)
    and a single clean file, with every kind of location a finding can have."""
    evil = make_finding(
        "MS-PICKLE-DANGEROUS-CALLABLE",
        "imports posix.system, which starts processes",
        location=Location(offset=28),
        evidence="GLOBAL posix system at offset 28",
        file="evil.pkl",
    )
    unknown = make_finding(
        "MS-PICKLE-UNKNOWN-CALLABLE",
        "imports mypkg.Net, not on the allowlist",
        location=Location(member="archive/data.pkl", offset=0),
        file="sub/model.pt",
    )
    unknown2 = make_finding(
        "MS-PICKLE-UNKNOWN-CALLABLE",
        "imports mypkg.Head, not on the allowlist",
        location=Location(member="archive/data.pkl", offset=57),
        file="sub/model.pt",
    )
    tensor = make_finding(
        "MS-NUMPY-OBJECT-ARRAY", "object array", location=Location(tensor="embeddings"), file="sub/model.pt"
    )
    link = make_finding("MS-FILE-LINK-ESCAPE", "escape.bin: link leaves the folder", file="escape.bin")
    hint = Finding("MS-PICKLE-TRAILING-DATA", Severity.INFO, "two bytes after STOP", file="ok.bin")
    folder = root / "model"
    files = (
        FileReport("evil.pkl", 42, "pickle", digest(b"evil") if digests else None, (evil,), 0.001),
        FileReport("ok.bin", 10, "pickle", digest(b"ok") if digests else None, (hint,), 0.0),
        FileReport(
            "sub/model.pt",
            4096,
            "pytorch-zip",
            digest(b"pt") if digests else None,
            (unknown, unknown2, tensor),
            0.01,
        ),
        FileReport("weights.safetensors", 100, "safetensors", digest(b"st") if digests else None, (), 0.0),
    )
    single = root / "clean.pkl"
    targets = (
        TargetReport(str(folder), str(folder), files, digest(b"manifest") if digests else None, (link,)),
        TargetReport(
            str(single),
            str(single),
            (FileReport("clean.pkl", 5, "pickle", digest(b"clean") if digests else None, (), 0.0),),
            digest(b"manifest2") if digests else None,
        ),
    )
    return ScanResult(targets, "0.1.0", 0.25)


@pytest.fixture
def result(tmp_path: Path) -> ScanResult:
    (tmp_path / "model" / "sub").mkdir(parents=True)
    (tmp_path / "clean.pkl").write_bytes(b"clean")
    return build_result(tmp_path)


@pytest.fixture
def empty() -> ScanResult:
    return ScanResult((TargetReport("empty", "empty", ()),), "0.1.0", 0.0)
