"""Scanning the files of a large target in parallel, in worker processes forked from this one.

The scanners are pure Python and Python runs one thread of bytecode at a time, so parallel scanning takes
processes. Forked workers start in about a millisecond with everything already imported and configured
(spawned ones would pay the whole start-up again), scan their share of the files, and stream each file's
result back as one JSON line; this process scans a share too and reports progress for all of them.

Forking is safe only from a single-threaded process, so it is used only on Linux and only while no other
thread runs (a scan that hashes every file meanwhile, or shows a live progress bar, stays in one process).
A worker that dies leaves each of its unfinished files with an ``MS-SCANNER-ERROR`` finding: fail closed.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from modelseal.core.artifact import FileEntry
from modelseal.core.cpus import usable_cpus
from modelseal.core.findings import Finding, Location, Severity
from modelseal.core.rules import make_finding

MAX_JOBS = 8
# The cost model that decides between one process and workers (measured on a 2-core machine, in CPU time:
# bench/bench_scan.py prints the per-file figures). A forked worker costs its fork, the copy-on-write
# faults of everything it touches and a JSON line per file through a pipe, together some tens of
# milliseconds; a small file costs a fraction of a millisecond to sniff and scan, so a worker pays for itself
# only once it takes over about half a second of work.
FILE_SECONDS = 0.0004
"""Scanning one small file: open, sniff, dispatch, a short parse."""
PICKLE_BYTE_SECONDS = 1 / 20e6
"""Each byte of a format read opcode by opcode (pickles and what holds them), at its densest."""
WORKER_SECONDS = 0.5
"""Estimated work one more process must take over to pay for its start and its results' transport."""
_PICKLE_SUFFIXES = frozenset(
    {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill", ".sav", ".npz", ".zip", ".tar"}
)

Outcome = tuple[str, list[Finding], float, str | None, tuple[str, ...]]
"""What scanning one file gives: its format, its findings, the seconds it took, its digest when the scan
hashed it, and the globals its pickles import."""


ScanOne = Callable[[FileEntry], Outcome]
"""Scanning one file in this process (what the local pool runs; the queue's workers build their own)."""
Tick = Callable[[str], None]
"""Called with a file's relpath once its outcome is in."""


class Executor(Protocol):
    """Where the files of a target get scanned: this machine's processes (:class:`LocalPool`, the default)
    or workers elsewhere (:class:`modelseal.queue.executor.QueueExecutor`, on PostgreSQL)."""

    provides_digests: bool
    """Whether every outcome carries the file's digest (the caller then hashes nothing itself)."""

    def outcomes(self, files: Sequence[FileEntry], scan_one: ScanOne, tick: Tick) -> list[Outcome]:
        """Each file's outcome, in file order; ``tick(relpath)`` after each."""


class LocalPool:
    """Scan in processes forked from this one (:func:`scan_each`): nothing to set up."""

    provides_digests = False

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def outcomes(self, files: Sequence[FileEntry], scan_one: ScanOne, tick: Tick) -> list[Outcome]:
        return scan_each(files, scan_one, tick, self.jobs)


def default_jobs() -> int:
    """Processes to scan with: the CPUs this process may use, at most :data:`MAX_JOBS`."""
    return min(MAX_JOBS, usable_cpus())


def can_fork() -> bool:
    return sys.platform.startswith("linux") and threading.active_count() == 1


def scan_each(
    files: Sequence[FileEntry],
    scan_one: Callable[[FileEntry], Outcome],
    tick: Callable[[str], None],
    jobs: int,
) -> list[Outcome]:
    """``scan_one`` of every file, in file order; ``tick(relpath)`` after each. Up to ``jobs`` processes,
    as many as :func:`planned_workers` finds worth their cost."""
    workers = planned_workers(files, jobs)
    if workers < 2 or not can_fork():
        out = []
        for entry in files:
            out.append(scan_one(entry))
            tick(entry.relpath)
        return out
    shares = _shares(files, workers)
    results: list[Outcome | None] = [None] * len(files)
    children = [_fork(share, files, scan_one) for share in shares[1:]]
    pipes = {fd: _Lines(fd) for _, fd in children}
    for index in shares[0]:
        results[index] = scan_one(files[index])
        tick(files[index].relpath)
        _collect(pipes, files, results, tick, wait=False)
    while pipes:
        _collect(pipes, files, results, tick, wait=True)
    for pid, _ in children:
        os.waitpid(pid, 0)
    return [r if r is not None else _lost() for r in results]


def estimated_seconds(files: Sequence[FileEntry]) -> float:
    """The work of scanning ``files`` in one process, by the cost model above: per file, plus per byte
    for the formats read opcode by opcode (known by name here: the files are not opened to decide)."""
    dense = sum(e.size for e in files if os.path.splitext(e.relpath)[1].lower() in _PICKLE_SUFFIXES)
    return len(files) * FILE_SECONDS + dense * PICKLE_BYTE_SECONDS


def planned_workers(files: Sequence[FileEntry], jobs: int) -> int:
    """Processes worth running: one per :data:`WORKER_SECONDS` of estimated work, at most ``jobs`` and
    one per file; 1 means this process alone."""
    return max(1, min(jobs, len(files), int(estimated_seconds(files) / WORKER_SECONDS)))


def _shares(files: Sequence[FileEntry], workers: int) -> list[list[int]]:
    """File indexes per process, balanced by size (largest first onto the least loaded), each in order."""
    shares: list[list[int]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for index in sorted(range(len(files)), key=lambda i: -files[i].size):
        least = loads.index(min(loads))
        shares[least].append(index)
        loads[least] += files[index].size + 4096  # a file costs something whatever its size
    return [sorted(share) for share in shares]


def _fork(
    share: list[int], files: Sequence[FileEntry], scan_one: Callable[[FileEntry], Outcome]
) -> tuple[int, int]:
    """Start a worker on ``share``; returns its pid and the read end of its pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: scan, write one line per file, and leave without running this process's exit
        os.close(read_end)
        code = 0
        try:
            with os.fdopen(write_end, "w", encoding="utf-8") as out:
                for index in share:
                    out.write(_encode(index, scan_one(files[index])) + "\n")
                    out.flush()
        except BaseException:  # whatever happened, the parent reports the files left unfinished
            code = 1
        os._exit(code)
    os.close(write_end)
    return pid, read_end


class _Lines:
    """Complete lines from a worker's pipe, read as they arrive."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = b""

    def read(self) -> tuple[list[bytes], bool]:
        """The complete lines now available, and whether the worker closed its end."""
        chunk = os.read(self.fd, 1 << 16)
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        return lines, not chunk


def _collect(
    pipes: dict[int, _Lines],
    files: Sequence[FileEntry],
    results: list[Outcome | None],
    tick: Callable[[str], None],
    wait: bool,
) -> None:
    import select  # only with workers (a small scan never forks: start-up)

    ready, _, _ = select.select(list(pipes), [], [], None if wait else 0)
    for fd in ready:
        lines, closed = pipes[fd].read()
        for line in lines:
            try:
                index, outcome = _decode(line)
            except (ValueError, TypeError, IndexError):  # a damaged line: its file stays unreported
                continue
            results[index] = outcome
            tick(files[index].relpath)
        if closed:
            os.close(fd)
            del pipes[fd]


def _lost() -> Outcome:
    """The outcome of a file whose worker never reported on it."""
    finding = make_finding(
        "MS-SCANNER-ERROR", "the worker process scanning this file ended before reporting on it"
    )
    return "unscanned", [finding], 0.0, None, ()


def encode_outcome(outcome: Outcome) -> list[Any]:
    """An outcome as JSON values (worker pipes, the queue's verdict table): never pickle."""
    fmt, findings, seconds, digest, imports = outcome
    rows = [
        [
            f.rule_id,
            int(f.severity),
            f.message,
            f.file,
            f.location.member,
            f.location.offset,
            f.location.tensor,
            f.evidence,
            f.remediation,
        ]
        for f in findings
    ]
    return [fmt, seconds, digest, rows, list(imports)]


def decode_outcome(values: list[Any]) -> Outcome:
    """The inverse of :func:`encode_outcome`."""
    fmt, seconds, digest, rows, imports = values
    findings = [
        Finding(rule, Severity(sev), msg, file, Location(member, offset, tensor), evidence, remediation)
        for rule, sev, msg, file, member, offset, tensor, evidence, remediation in rows
    ]
    return fmt, findings, seconds, digest, tuple(imports)


def _encode(index: int, outcome: Outcome) -> str:
    import json  # only with workers (a small scan never forks: start-up)

    return json.dumps([index, *encode_outcome(outcome)])


def _decode(line: bytes) -> tuple[int, Outcome]:
    import json

    index, *values = json.loads(line)
    return index, decode_outcome(values)
