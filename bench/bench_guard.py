"""Guard overhead on loading a clean checkpoint: plain ``torch.load`` against the same call under
``modelseal.guard()`` (first load: full static scan; repeat load: cached verdict; with a lockfile: scan
plus a SHA-256 of the file), measured in one run, alternating, on a warm page cache.

    python bench/bench_guard.py [--size-mb 500] [--repeat 3]

Goal (issue 8): the first guarded load costs less than 10 % more than the plain load.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _time(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import torch

    from modelseal.api import scan
    from modelseal.core.config import Config
    from modelseal.integrity.lockfile import Lockfile, lock_entry, write_lock
    from modelseal.integrity.manifest import manifest_for
    from modelseal.runtime import guard, unguard
    from modelseal.sources.local import resolve_local

    with tempfile.TemporaryDirectory(prefix="bench-guard-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        path = folder / "model.pt"
        n_tensors = 50
        per = args.size_mb * (1 << 20) // 4 // n_tensors
        torch.save({f"layer{i}.weight": torch.randn(per) for i in range(n_tensors)}, path)
        size = path.stat().st_size
        lockfile = Path(tmp) / "modelseal.lock"
        write_lock(lockfile, Lockfile((lock_entry(str(folder), manifest_for(resolve_local(str(folder)))),)))
        path.read_bytes()  # warm the page cache for every contender alike

        def load() -> object:
            return torch.load(path, map_location="cpu", weights_only=True)

        rows: dict[str, list[float]] = {
            "plain torch.load": [],
            "guard, first load": [],
            "guard, repeat load": [],
            "guard + lockfile, first load": [],
            "static scan alone (no load)": [],
        }
        _time(load)  # warm-up: allocator and lazy imports are paid before anyone is timed
        for _ in range(args.repeat):
            rows["plain torch.load"].append(_time(load))
            guard(config=Config())  # a fresh guard: nothing cached
            rows["guard, first load"].append(_time(load))
            rows["guard, repeat load"].append(_time(load))
            guard(config=Config(), lockfile=lockfile)
            rows["guard + lockfile, first load"].append(_time(load))
            unguard()
            rows["static scan alone (no load)"].append(
                _time(lambda: scan([str(path)], Config(), digests=False))
            )

    base = statistics.median(rows["plain torch.load"])
    print(f"clean checkpoint: {size / (1 << 20):.0f} MiB, {n_tensors} tensors; median of {args.repeat} runs")
    print(f"{'contender':32} {'median s':>9} {'min s':>8} {'vs plain load':>14}")
    for name, times in rows.items():
        med = statistics.median(times)
        alone = name.startswith("static scan")
        share = 100 * med / base if alone else 100 * (med - base) / base
        print(
            f"{name:32} {med:9.3f} {min(times):8.3f} {share:+13.1f}%" + (" (its cost alone)" if alone else "")
        )


if __name__ == "__main__":
    main()
