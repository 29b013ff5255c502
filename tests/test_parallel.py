"""Folder scans in forked worker processes: the same report as one process, progress for every file, and
fail-closed handling of a worker that dies."""

from __future__ import annotations

import io
import os
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelseal import parallel
from modelseal.api import scan
from modelseal.core.artifact import FileEntry
from modelseal.core.config import Config
from modelseal.core.findings import Finding, Severity
from modelseal.core.limits import Limits
from modelseal.core.result import FileReport

from .cli.conftest import OWN_CLASS_PICKLE, TRUNCATED_PICKLE, benign_pickle, malicious_pickle

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the forks this process makes (children inherit the wrapper but never report back). Threads
    that earlier tests left behind (tqdm's monitor) are not counted: only those a test starts itself."""
    made: list[int] = []
    real_fork = os.fork
    real_count = threading.active_count
    baseline = real_count()
    monkeypatch.setattr(parallel.threading, "active_count", lambda: real_count() - baseline + 1)

    def counting_fork() -> int:
        pid = real_fork()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(parallel.os, "fork", counting_fork)
    monkeypatch.setattr(parallel, "WORKER_SECONDS", 1e-9)  # any work is worth a worker
    yield made


def _folder(root: Path) -> Path:
    root.mkdir()
    kinds = [malicious_pickle(), benign_pickle(), TRUNCATED_PICKLE, OWN_CLASS_PICKLE, b"plain text\n"]
    for i in range(40):
        (root / f"f{i:02d}.bin").write_bytes(kinds[i % len(kinds)])
    return root


def _essence(reports: tuple[FileReport, ...]) -> list[tuple[str, str, tuple[Finding, ...]]]:
    return [(f.path, f.format, f.findings) for f in reports]


def test_workers_give_the_report_of_one_process(tmp_path: Path, forks: list[int]) -> None:
    model = _folder(tmp_path / "m")
    one = scan([model], digests=False, jobs=1)
    assert forks == []
    ticks: list[str] = []
    many = scan([model], digests=False, jobs=3, progress=lambda path, done, total: ticks.append(path))
    assert len(forks) == 2
    assert _essence(many.targets[0].files) == _essence(one.targets[0].files)
    assert sorted(ticks) == sorted(f.path for f in one.targets[0].files)
    assert {f.rule_id for f in many.findings} >= {"MS-PICKLE-DANGEROUS-CALLABLE", "MS-PICKLE-MALFORMED"}


def test_a_worker_that_dies_leaves_its_files_flagged(tmp_path: Path, forks: list[int]) -> None:
    files = [FileEntry(f"f{i}", tmp_path / f"f{i}", 10) for i in range(12)]
    parent = os.getpid()

    def scan_one(entry: FileEntry) -> parallel.Outcome:
        if os.getpid() != parent:
            os._exit(3)  # the worker dies before reporting anything
        return "pickle", [], 0.0, None, ()

    outcomes = parallel.scan_each(files, scan_one, lambda path: None, jobs=2)
    assert len(forks) == 1 and len(outcomes) == len(files)
    lost = [o for o in outcomes if o[0] == "unscanned"]
    assert lost and len(lost) < len(files)  # this process scanned its own share
    assert all(o[1][0].rule_id == "MS-SCANNER-ERROR" for o in lost)


def test_no_fork_while_another_thread_runs(tmp_path: Path, forks: list[int]) -> None:
    model = _folder(tmp_path / "m")
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        result = scan([model], digests=False, jobs=2)
    finally:
        release.set()
        other.join()
    assert forks == [] and result.file_count == 40


def test_findings_survive_the_trip_from_a_worker(tmp_path: Path, forks: list[int]) -> None:
    """Every field of a finding, odd characters included, comes back as it was made."""
    files = [FileEntry(f"f{i}", tmp_path, 1) for i in range(8)]
    odd = Finding("MS-SCANNER-ERROR", Severity.CRITICAL, "naïve \udcff \n", "f", evidence="€")

    sent = ("x", [odd], 0.5, "sha256:ab", ("m\udcff:f",))
    outcomes = parallel.scan_each(files, lambda e: sent, lambda path: None, jobs=2)
    assert len(forks) == 1
    assert all(o == sent for o in outcomes)


def test_decompression_budget_is_per_file(tmp_path: Path) -> None:
    """Many archives in one folder do not add up to one file's limit."""
    model = tmp_path / "m"
    model.mkdir()
    for name in ("a.zip", "b.zip", "c.zip"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("notes.txt", "x" * 600)
        (model / name).write_bytes(buf.getvalue())
    result = scan([model], Config(limits=Limits(max_decompressed_bytes=1000)), digests=False, jobs=1)
    assert "MS-LIMIT-EXCEEDED" not in {f.rule_id for f in result.findings}


def test_workers_only_where_the_work_pays_for_them() -> None:
    def folder(count: int, size: int, suffix: str) -> list[FileEntry]:
        return [FileEntry(f"f{i}{suffix}", Path(f"f{i}{suffix}"), size) for i in range(count)]

    assert parallel.planned_workers(folder(1000, 2000, ".json"), 8) == 1
    assert parallel.planned_workers(folder(1000, 2000, ".pkl"), 8) == 1
    assert parallel.planned_workers(folder(10_000, 2000, ".json"), 2) == 2
    assert parallel.planned_workers(folder(2, 1 << 30, ".pkl"), 8) == 2  # two large pickles: one each
    assert parallel.planned_workers(folder(2, 1 << 30, ".safetensors"), 8) == 1  # a header each
