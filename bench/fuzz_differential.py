"""Differential fuzzing of the scanner against the real loaders (issue 14).

Generates and mutates files (pickle programs over protocols 0-5 with the argument forms CPython accepts,
several pickles per stream, joblib layouts, torch zip and legacy tar layouts, ``.npz``, compressed streams;
see ``tests/scanners/differential.py``), has ``pickle``, ``torch.load(weights_only=False)``,
``numpy.load(allow_pickle=True)`` and ``joblib.load`` read each one in a long-lived oracle process that
records every ``find_class`` and stubs every name the allowlist does not allow (``tests/scanners/oracle.py``),
and checks the invariant: every global a loader resolves is among the scanner's imports, and every one not
allowlisted is named by a finding.

Each worker sends a batch of files to its oracle and scans the same batch in-process meanwhile (so a worker
keeps two cores busy); a file on which the oracle dies or hangs (``--timeout``) is counted as unchecked and
the rest of the batch goes to a fresh oracle; such a file is a divergence unless the scan fails it (a finding
at high or above), since a loader that crashes on it may be steered further. Input ``i`` is built from
``random.Random(i)``, so any seed rebuilds its file. Every finished seed range is appended to
``--checkpoint`` (JSON lines: start, stop, checked, unchecked seeds, divergences); a rerun with the same
file resumes after the ranges it holds, and the totals printed are summed from it, so they are exact across
interruptions. ``--until HH:MM`` (UTC) stops
cleanly at that time. Run it under ``nice -n 19`` when the machine is shared.

Usage: ``python bench/fuzz_differential.py [--inputs 1000000] [--seed 0] [--workers 1] [--batch 64]
[--chunk 2000] [--checkpoint fuzz.jsonl] [--until 04:25]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.scanners.differential import Scanned, compare, generate, scanned  # noqa: E402
from tests.scanners.oracle import Oracle  # noqa: E402

_SCRATCH = (
    "/dev/shm" if os.path.isdir("/dev/shm") else None
)  # the oracle re-reads every file: keep them in RAM


_ORACLE: Oracle | None = None


def _scanned(path: Path) -> Scanned | str:
    """The scan of one file, or what it raised (a scan must never raise: that is a divergence too)."""
    try:
        return scanned(path)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _run(job: tuple[int, int, int, float, float]) -> dict[str, Any]:
    """Check seeds [start, stop) in batches until ``deadline`` (a wall-clock time); say how far it got."""
    start, stop, batch, timeout, deadline = job
    global _ORACLE
    if _ORACLE is None:  # one per worker process, kept across ranges (it imports torch once)
        _ORACLE = Oracle(ROOT / "src")
    oracle = _ORACLE
    folder = tempfile.mkdtemp(prefix="fuzz-", dir=_SCRATCH)
    found: list[str] = []
    lost: list[int] = []
    reached = start
    cpu = time.process_time() + oracle.cpu_seconds()
    try:
        while reached < stop and time.time() < deadline:
            seeds = range(reached, min(reached + batch, stop))
            paths = []
            for seed in seeds:
                name, data = generate(random.Random(seed))
                path = Path(folder) / f"{seed}-{name}"
                path.write_bytes(data)
                paths.append(path)
            oracle.send(paths)
            views = [_scanned(p) for p in paths]  # while the oracle reads the same files
            for i, (seed, path, view) in enumerate(zip(seeds, paths, views, strict=True)):
                resolved = oracle.receive(timeout)
                if resolved is None:  # it died or hung on this file: a fresh one for the rest
                    lost.append(seed)
                    oracle.restart()
                    oracle.send(paths[i + 1 :])
                    continue
                if isinstance(view, str):
                    found.append(f"seed {seed} ({path.name}): the scan raised {view}")
                    continue
                for d in compare(view, resolved):
                    found.append(f"seed {seed} ({path.name}): {d.loader} {d.name}: {d.why}")
            for path in paths:
                path.unlink()
            reached = seeds.stop
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "start": start,
        "stop": reached,
        "checked": reached - start - len(lost),
        "unchecked": lost,
        "divergences": found,
        # this process and its oracle (an oracle replaced meanwhile is not counted: a lower bound)
        "cpu_s": round(time.process_time() + oracle.cpu_seconds() - cpu, 3),
    }


def _done(checkpoint: Path) -> list[dict[str, Any]]:
    if not checkpoint.is_file():
        return []
    return [json.loads(line) for line in checkpoint.read_text().splitlines() if line.strip()]


def _todo(first: int, last: int, done: list[dict[str, Any]], chunk: int) -> list[tuple[int, int]]:
    """The seed ranges of [first, last) that no checkpoint line covers, cut into chunks."""
    covered = sorted((d["start"], d["stop"]) for d in done)
    gaps, at = [], first
    for lo, hi in covered:
        if lo > at:
            gaps.append((at, min(lo, last)))
        at = max(at, hi)
    if at < last:
        gaps.append((at, last))
    return [(lo, min(lo + chunk, hi)) for a, hi in gaps if a < hi for lo in range(a, hi, chunk)]


def _deadline(until: str | None) -> float:
    if not until:
        return float("inf")
    now = datetime.datetime.now(datetime.timezone.utc)
    hour, minute = map(int, until.split(":"))
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at <= now:
        at += datetime.timedelta(days=1)
    return at.timestamp()


def _totals(done: list[dict[str, Any]]) -> tuple[int, int, int, list[str]]:
    """Seeds run, inputs checked, inputs the oracle could not read, divergences."""
    checked = sum(d["checked"] for d in done)
    unchecked = sum(len(d["unchecked"]) for d in done)
    lines = [line for d in done for line in d["divergences"]]
    seeds = sum(d["stop"] - d["start"] for d in done)
    return seeds, checked, unchecked, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0, help="first seed; input i is random.Random(i)")
    parser.add_argument("--workers", type=int, default=1, help="each keeps two cores busy (itself + oracle)")
    parser.add_argument("--batch", type=int, default=64, help="files per oracle round trip")
    parser.add_argument("--chunk", type=int, default=2000, help="seeds per checkpoint line")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds the oracle may take per file")
    parser.add_argument("--checkpoint", type=Path, default=None, help="JSON lines of finished seed ranges")
    parser.add_argument("--until", default=None, help="HH:MM UTC: stop cleanly then")
    args = parser.parse_args()
    checkpoint = args.checkpoint or Path(tempfile.mkdtemp()) / "fuzz.jsonl"
    first, last = args.seed, args.seed + args.inputs
    before = _done(checkpoint)
    deadline = _deadline(args.until)
    jobs = [(lo, hi, args.batch, args.timeout, deadline) for lo, hi in _todo(first, last, before, args.chunk)]
    print(f"load average {os.getloadavg()}; checkpoint {checkpoint}; {len(jobs)} ranges to run", flush=True)
    started = time.monotonic()
    now_checked = 0
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for result in pool.imap_unordered(_run, jobs):
            if result["stop"] == result["start"]:
                continue  # the deadline came before it began
            with checkpoint.open("a") as out:
                out.write(json.dumps(result) + "\n")
            now_checked += result["checked"]
            for line in result["divergences"]:
                print("DIVERGENCE", line, flush=True)
            seeds, checked, unchecked, lines = _totals(_done(checkpoint))
            rate = now_checked / (time.monotonic() - started)
            print(
                f"seeds {seeds}  checked {checked}  divergences {len(lines)}  unchecked {unchecked}  "
                f"this run {rate:.1f} inputs/s  load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    elapsed = time.monotonic() - started
    done = _done(checkpoint)
    ran = done[len(before) :]
    cpu = sum(d.get("cpu_s", 0.0) for d in ran)
    print(
        f"this run: {now_checked} inputs in {elapsed:.0f} s wall ({now_checked / max(elapsed, 1e-9):.1f}/s); "
        f"{cpu:.0f} CPU s in the workers and their oracles after start-up "
        f"({now_checked / max(cpu, 1e-9):.1f} inputs per CPU second, i.e. per core); "
        f"load average {os.getloadavg()}"
    )
    seeds, checked, unchecked, lines = _totals(done)
    print(
        f"total in {checkpoint}: seeds {seeds} run, {checked} checked, {len(lines)} divergences, "
        f"{unchecked} the oracle could not read"
    )


if __name__ == "__main__":
    main()
