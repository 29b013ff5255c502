"""Differential fuzzing of the scanner against the real loaders (issue 14).

Generates and mutates files (pickle programs over protocols 0-5 with the argument forms CPython accepts,
several pickles per stream, joblib layouts, torch zip and legacy tar layouts, ``.npz``, compressed streams;
see ``tests/scanners/differential.py``), has ``pickle``, ``torch.load(weights_only=False)``,
``numpy.load(allow_pickle=True)`` and ``joblib.load`` read each one in worker processes that record every
``find_class`` and stub every name the allowlist does not allow (``tests/scanners/oracle.py``), and checks the
invariant: every global a loader resolves is among the scanner's imports, and every one not allowlisted is
named by a finding. Prints inputs per second and every divergence (with the seed that rebuilds it).

Usage: ``python bench/fuzz_differential.py [--inputs 1000000] [--seed 0] [--workers 2] [--report 10000]
[--chunk 200]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.scanners.differential import check, generate  # noqa: E402
from tests.scanners.oracle import Oracle  # noqa: E402


def _run(seeds: range) -> tuple[int, list[str], int]:
    """Check one range of seeds: how many were checked, the divergences found, and the inputs on which the
    oracle worker died or hung (these are not checked)."""
    oracle = Oracle(ROOT / "src")
    found: list[str] = []
    lost = 0
    with tempfile.TemporaryDirectory() as folder:
        for seed in seeds:
            name, data = generate(random.Random(seed))
            path = Path(folder) / name
            path.write_bytes(data)
            try:
                resolved = oracle.resolved(path)
            except RuntimeError:  # the worker died or hung on this input: start another
                lost += 1
                oracle = Oracle(ROOT / "src")
                continue
            for divergence in check(path, resolved):
                found.append(f"seed {seed} ({name}): {divergence.loader} {divergence.name}: {divergence.why}")
    oracle.close()
    return len(seeds) - lost, found, lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report", type=int, default=10_000, help="print progress every this many inputs")
    parser.add_argument("--chunk", type=int, default=200, help="inputs per oracle worker before a fresh one")
    args = parser.parse_args()
    chunk = args.chunk
    chunks = [
        range(start, min(start + chunk, args.seed + args.inputs))
        for start in range(args.seed, args.seed + args.inputs, chunk)
    ]
    started = time.monotonic()
    done = divergences = lost = 0
    next_report = args.report
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for count, found, missed in pool.imap_unordered(_run, chunks):
            done += count
            lost += missed
            divergences += len(found)
            for line in found:
                print("DIVERGENCE", line, flush=True)
            if done + lost >= next_report or done + lost == args.inputs:
                rate = done / (time.monotonic() - started)
                print(
                    f"inputs {done}  divergences {divergences}  unchecked {lost}  {rate:.1f} inputs/s",
                    flush=True,
                )
                next_report += args.report
    elapsed = time.monotonic() - started
    print(
        f"done: {done} inputs checked in {elapsed:.0f} s ({done / elapsed:.1f}/s), "
        f"{divergences} divergences, {lost} inputs the oracle could not read"
    )


if __name__ == "__main__":
    main()
