"""A hub mirror swept on the PostgreSQL job queue by 1, 2 and 4 worker processes, beside the local process
pool (``modelseal scan`` of every snapshot in this process) as the baseline, all on one synthetic mirror
built by code: model snapshots of three files in mixed formats (safetensors, JSON, pickle), about 70 % of
the file references pointing at contents other snapshots share (forks of base models), a few malicious
pickles (a harmless ``echo``).

    PYTHONPATH=src:. python3 bench/bench_sweep.py [--snapshots 600] [--workers 1,2,4] [--rounds 1]

The default size is what fits the five minutes a bench run gets on a 2-CPU machine; the issue's 10 000
snapshots is ``--snapshots 10000`` (the re-sweeps are then left out unless ``--resweep``; progress goes to
stderr every 30 s). The mirror is built once and swept by every executor. Prints, per worker count, the
sweep's wall time (enqueue to the last version assembled; workers started and warmed first), versions per
second, the scaling efficiency against one worker (T1 / (n * Tn)), and the re-verification of the same
mirror (every content already judged: assembly only); min / median / max where rounds repeat; the bytes
and scans dedup saved; the database's size per row; SHA-256 speed on one core; and os.getloadavg() before,
after each count and at the end.
PostgreSQL is Debian's package, started here with fsync on (as the ``postgres`` user when run as root).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.queue.mirror import build_mirror
from tests.server.pg import create_database, throwaway_postgres

if TYPE_CHECKING:
    from modelseal.queue.results import SweepProgress

ROOT = Path(__file__).resolve().parents[1]
ENQUEUE: list[float] = []
"""Seconds each sweep spent listing, keying and enqueueing (part of its wall time)."""


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:8.2f}"
    return f"{min(values):8.2f} {statistics.median(values):8.2f} {max(values):8.2f}"


def start_workers(url: str, count: int) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    command = [sys.executable, "-c", "from modelseal.cli.app import main; main()", "worker", "--queue", url]
    return [
        subprocess.Popen([*command, "--poll", "0.2", "--heartbeat", "2"], env=env, start_new_session=True)
        for _ in range(count)
    ]


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def timed_sweep(url: str, mirror: Path, record: bool = True) -> tuple[float, SweepProgress]:
    """Seconds from the sweep's start (listing, keying, enqueueing) to its last version assembled; the
    progress on stderr every ``PROGRESS_S`` seconds (not part of the figures)."""
    from modelseal.api.sweeping import SweepRequest, sweep, sweep_progress

    began = time.perf_counter()
    started = sweep(SweepRequest(mirror, url))
    if record:
        ENQUEUE.append(started.seconds)
        progress(f"  enqueued {started.versions} versions in {started.seconds:.1f} s")
    shown = time.perf_counter()
    while not (state := sweep_progress(url, started.sweep)).finished:
        time.sleep(0.2)
        if record and time.perf_counter() - shown > PROGRESS_S:
            shown = time.perf_counter()
            elapsed = shown - began
            progress(
                f"  {state.done}/{state.total} versions after {elapsed:.0f} s ({state.done / elapsed:.1f}/s)"
            )
    return time.perf_counter() - began, state


PROGRESS_S = 30.0


def progress(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def wait_for(check: Callable[[], bool]) -> None:
    while not check():
        time.sleep(0.2)


def one_count(
    admin: str, tmp: Path, mirror: Path, workers: int, round_: int, resweep: bool
) -> tuple[float, float | None, SweepProgress]:
    """A fresh database, ``workers`` warmed-up worker processes; the first sweep and (``resweep``) the
    re-sweep."""
    import psycopg

    url = create_database(admin, f"sweep_{workers}_{round_}")
    procs = start_workers(url, workers)
    try:
        warm = build_mirror(tmp / f"warm-{workers}-{round_}", 2 * workers, malicious=0, salt=900 + round_)
        timed_sweep(url, warm.root, record=False)  # workers registered, scan processes started, warm

        def registered() -> bool:
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
                return row is not None and row[0] >= workers

        wait_for(registered)
        progress(f"{workers} worker(s), round {round_ + 1}: sweep")
        first, state = timed_sweep(url, mirror)
        again = None
        if resweep:
            progress(f"{workers} worker(s), round {round_ + 1}: re-sweep")
            again, _ = timed_sweep(url, mirror)
        if workers == 1 and round_ == 0:
            database_size(url, state, resweep)
    finally:
        stop_workers(procs)
    return first, again, state


def database_size(url: str, state: SweepProgress, resweep: bool) -> None:
    """Bytes on disk per table after the sweep (and its re-sweep): the capacity plan's database figures."""
    import psycopg

    tables = ("blob_verdicts", "sweep_versions", "procrastinate_jobs", "procrastinate_events")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")

        def one(sql: str, *params: object) -> int:
            row = conn.execute(sql, params).fetchone()
            assert row is not None
            return int(row[0])

        sizes = {t: one("SELECT pg_total_relation_size(%s)", t) for t in tables}
        rows = {t: one(f"SELECT count(*) FROM {t}") for t in tables}
    print(f"database after the sweep{'s' if resweep else ''} of {state.total} versions (1 worker):")
    for table in tables:
        per = f"{sizes[table] / rows[table]:8.0f} bytes/row" if rows[table] else "(jobs deleted on success)"
        print(f"  {table:<22} {rows[table]:>8} rows {sizes[table]:>12,} bytes  {per}")


def local_baseline(snapshots: list[Path]) -> tuple[float, int]:
    """``modelseal scan`` of every snapshot with the local pool, in this process (no dedup across them)."""
    from modelseal.api import scan
    from modelseal.core.findings import Severity

    began = time.perf_counter()
    result = scan(snapshots, digests=True, lockfile=False, offline=True)
    flagged = sum(1 for t in result.targets if any(f.severity >= Severity.HIGH for f in t.iter_findings()))
    return time.perf_counter() - began, flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=int, default=600, help="model snapshots in the mirror")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to compare")
    parser.add_argument("--rounds", type=int, default=1, help="repeats of each measurement")
    parser.add_argument(
        "--shared", type=float, default=0.7, help="share of file references to shared contents"
    )
    parser.add_argument("--malicious", type=int, default=3)
    parser.add_argument(
        "--resweep",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time the re-sweep of every count (default: only up to 2000 snapshots)",
    )
    parser.add_argument("--no-local", action="store_true", help="skip the local-pool baseline")
    args = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C, so the workers and the throw-away PostgreSQL are stopped on the way out
    # (killed outright they kept running, and a stuck worker took the CPU from the next run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    counts = [int(n) for n in args.workers.split(",")]
    resweep = args.resweep if args.resweep is not None else args.snapshots <= 2000
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs")
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    began = time.perf_counter()
    mirror = build_mirror(tmp, args.snapshots, shared=args.shared, malicious=args.malicious)
    print(
        f"mirror: {len(mirror.snapshots)} snapshots, {mirror.references} file references, {mirror.distinct}"
        f" distinct contents ({1 - mirror.distinct / mirror.references:.0%} of references shared), "
        f"{mirror.bytes_total:,} bytes, {len(mirror.malicious)} malicious; built in "
        f"{time.perf_counter() - began:.1f} s"
    )
    header = f"\n{'executor':<22} {'seconds (min med max)':>26} {'versions/s':>11} {'efficiency':>11}"
    if not args.no_local:
        progress("local pool baseline")
        local = [local_baseline(mirror.snapshots) for _ in range(args.rounds)]
        local_s = [s for s, _ in local]
        rate = args.snapshots / statistics.median(local_s)
        print(header)
        print(
            f"{'local pool (baseline)':<22} {spread(local_s):>26} {rate:11.1f} {'':>11}"
            f"   flagged {local[0][1]}",
            flush=True,
        )
    else:
        print(header)
    one = None
    state = None
    with throwaway_postgres(durable=True) as admin:
        rows = []
        for workers in counts:
            runs = [one_count(admin, tmp, mirror.root, workers, r, resweep) for r in range(args.rounds)]
            firsts = [f for f, _, _ in runs]
            agains = [a for _, a, _ in runs if a is not None]
            state = runs[0][2]
            median = statistics.median(firsts)
            one = one or (median if workers == 1 else None)
            efficiency = f"{one / (workers * median):11.0%}" if one else f"{'':>11}"
            flagged = state.flagged
            print(
                f"{f'queue, {workers} worker(s)':<22} {spread(firsts):>26} "
                f"{args.snapshots / median:11.1f} {efficiency}   flagged {flagged}   "
                f"load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            if agains:
                rows.append((workers, agains))
        print()
        for workers, agains in rows:
            print(
                f"{f're-sweep, {workers} wkr':<22} {spread(agains):>26} "
                f"{args.snapshots / statistics.median(agains):11.1f}   (every content already judged)"
            )
    if state is not None:
        saved_bytes = state.bytes_total - state.bytes_enqueued
        print(
            f"\ndedup: {mirror.references} file references -> {state.blobs_enqueued} scans "
            f"({1 - state.blobs_enqueued / mirror.references:.0%} of scans saved); "
            f"{saved_bytes:,} of {state.bytes_total:,} bytes not read again "
            f"({saved_bytes / max(state.bytes_total, 1):.0%})"
        )
    print(f"enqueue (list, key, defer) per sweep, seconds: {spread(ENQUEUE)}")
    print(f"sha256 on one core: {hashing_rate():.2f} GB/s (what hashing real weights costs a worker)")
    print(f"load average after: {os.getloadavg()}")


def hashing_rate() -> float:
    """GB/s of SHA-256 over 256 MiB in memory, best of 3: the per-byte cost of a worker's digest."""
    import hashlib

    data = os.urandom(1 << 20) * 256
    best = min(_timed(lambda: hashlib.sha256(data).digest()) for _ in range(3))
    return len(data) / best / 1e9


def _timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
