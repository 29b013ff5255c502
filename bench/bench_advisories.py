"""Advisory look-up bench: 100 000 file digests against a feed of 1 000 000 model advisories.

Writes a feed of OSV records (one ``sha256`` file digest each, in JSON files of 10 000 records, as a folder
feed), syncs it into modelseal's SQLite cache (build time and size printed), then checks a batch of digests
(1 % of them listed) against it, round after round. Beside it, the same run times the peer without a cache:
a Python set built from the same feed (what a tool that re-reads the feed on every run pays), and the look-up
in that set once built. Target: the cache look-up under 1 s.

Usage: ``python bench/bench_advisories.py [--advisories 1000000] [--digests 100000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PER_FILE = 10_000


def digest(i: int, salt: bytes = b"advisory") -> str:
    return "sha256:" + hashlib.sha256(salt + i.to_bytes(8, "little")).hexdigest()


def write_feed(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for start in range(0, count, PER_FILE):
        records = [
            {
                "id": f"MAL-2026-{i:07d}",
                "modified": "2026-01-01T00:00:00Z",
                "summary": "model ships a pickle that runs a command on load",
                "affected": [
                    {
                        "package": {"ecosystem": "GIT", "name": f"https://huggingface.co/acme/m{i}"},
                        "database_specific": {"modelseal": {"files": [digest(i)]}},
                    }
                ],
            }
            for i in range(start, min(start + PER_FILE, count))
        ]
        (folder / f"feed-{start // PER_FILE:05d}.json").write_text(json.dumps(records), encoding="utf-8")


def rounds(fn: Callable[[], object], n: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def line(label: str, times: list[float]) -> str:
    mid = statistics.median(times)
    return f"{label:<48} min {min(times):8.3f} s  median {mid:8.3f} s  max {max(times):8.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advisories", type=int, default=1_000_000)
    parser.add_argument("--digests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from modelseal.advisories.cache import AdvisoryCache
    from modelseal.advisories.feeds import read_feed

    with tempfile.TemporaryDirectory(prefix="bench-advisories-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_feed(root / "feed", args.advisories)
        feed_bytes = sum(p.stat().st_size for p in (root / "feed").iterdir())
        took = time.perf_counter() - t0
        print(f"feed: {args.advisories} advisories, {feed_bytes / 2**20:.1f} MiB, written in {took:.1f} s")

        path = root / "advisories.sqlite"
        t0 = time.perf_counter()
        with AdvisoryCache.open(path) as cache:
            report = cache.sync([(str(root / "feed"), read_feed(str(root / "feed")))])
        build = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in root.glob("advisories.sqlite*"))
        print(f"cache build (sync): {build:.1f} s, {report.active} active advisories, {size / 2**20:.1f} MiB")

        listed = args.digests // 100
        step = max(1, args.advisories // max(listed, 1))
        wanted = [digest(i * step) for i in range(listed)]
        wanted += [digest(i, b"clean") for i in range(args.digests - listed)]

        def cached() -> int:
            with AdvisoryCache.open(path) as c:
                return sum(len(h) for h in c.digest_hits(wanted).values())

        cpu0 = time.process_time()
        times, hits = rounds(cached, args.rounds)
        cpu = (time.process_time() - cpu0) / args.rounds
        load = os.getloadavg()[0]
        print(f"\n{args.digests} digests ({listed} listed), {args.rounds} rounds, load average {load:.1f}:")
        print(line("modelseal cache look-up (open + query)", times) + f"  hits {hits}  cpu {cpu:.3f} s/round")
        target = "PASS" if statistics.median(times) < 1.0 else "FAIL (wall; see cpu on a loaded machine)"
        print(f"target: median under 1 s ... {target}")

        def peer_build() -> set[str]:
            return {d for adv in read_feed(str(root / "feed")) for d in adv.files}

        build_times, known = rounds(peer_build, 1)
        assert isinstance(known, set)
        print(line("peer: set from the feed (re-read every run)", build_times))
        look_times, peer_hits = rounds(lambda: sum(d in known for d in wanted), args.rounds)
        print(line("peer: look-up in the in-memory set", look_times) + f"  hits {peer_hits}")
        assert peer_hits == hits, "both must find the same listed digests"


if __name__ == "__main__":
    main()
