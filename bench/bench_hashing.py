"""Hash a model folder (one 2 GiB file and small files) with modelseal and its peers, interleaved, in one run.

Every contender is a command run end to end in its own subprocess (interpreter start and imports included),
once per round; rounds interleave the contenders in a rotating order so load drifts hit them alike, and each
figure is printed as min / median / max over the rounds. The peers, from the same run:

- ``model_signing sign key`` (the OpenSSF reference tool; its default ``files`` serialisation),
- ``openssl dgst -sha256`` over every file (one process, one core),
- the ceilings, from rates measured at the start of the run: the folder's bytes over ``cores x openssl speed
  -evp sha256 -bytes 131072`` (the issue's ceiling; ``openssl speed`` divides by CPU time, so load does not
  lower it), and what each method can reach at most: ``files`` hashes one file on one core (the 2 GiB file
  alone bounds it), ``shards`` cannot split a shard (the largest-first schedule of the shards over the cores
  bounds it), BLAKE3 splits everything (``cores x`` one core's BLAKE3 rate, measured the same way).

modelseal: ``lock`` (first, with an empty digest cache, then a second ``lock`` of the unchanged folder with
that cache), ``sign --method files`` and ``--method shards`` (both ``--no-digest-cache``: they hash), and
``lock``/``sign --method shards`` with ``--hash blake3``. Both locks are also timed in-process (after
imports), and so is the hasher alone on each kind of work, since interpreter start-up is much of a run.

Page cache: the folder is generated, then read whole before every round, so every tool hashes from memory
(warm) alike; the machine's free memory is checked to hold it. The work is checked: the SHA-256 of every file
must be the same in openssl's output, modelseal's lockfile, its shards signature (the small files are one
shard each) and model_signing's signature, and the BLAKE3 lockfile must hold each file's BLAKE3.

    python bench/bench_hashing.py [--gib 2] [--rounds 5]      # the acceptance run (issue 18)
    python bench/bench_hashing.py --gib 0.1 --rounds 2         # a smoke run
    python bench/bench_hashing.py --sweep                      # how BUFFER and WINDOW were chosen

Goals (issue 18): lock and sign >= 1.3x faster than model-signing and within 15 % of the ceiling; the second
lock >= 20x faster than the first.
"""

from __future__ import annotations

import argparse
import base64
import compileall
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MiB = 1 << 20
GiB = 1 << 30
ROOT = Path(__file__).resolve().parent.parent
SMALL = [(f"tokenizer_{i}.json", 1000 + 37_000 * i) for i in range(24)] + [
    ("config.json", 900),
    ("README.md", 5_000),
    ("vocab.txt", 3 * MiB + 11),
    ("merges.txt", 1 * MiB + 3),
]
"""The small files beside the big one (about 13 MiB, odd sizes)."""
BIG = "model.safetensors"


def make_folder(root: Path, big: int) -> list[Path]:
    """The big file from a repeated random block with counters (not compressible, not all equal), then
    the small ones."""
    block = bytearray(os.urandom(16 * MiB))
    counter = 0
    for name, size in [(BIG, big), *SMALL]:
        with open(root / name, "wb") as f:
            left = size
            while left:
                counter += 1
                block[:8] = counter.to_bytes(8, "little")
                n = min(left, len(block))
                f.write(memoryview(block)[:n])
                left -= n
    return sorted(root.iterdir())


def warm(paths: list[Path]) -> None:
    buf = bytearray(8 * MiB)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Seconds and stdout of one command; a failure stops the bench (failed work gives no figure)."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"FAILED ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def openssl_speed(seconds: int, multi: int = 0) -> float:
    """Bytes per second of SHA-256 over 128 KiB blocks (``openssl speed -evp``: per CPU second of one core,
    or summed over ``multi`` processes at once)."""
    many = ["-multi", str(multi)] if multi else []
    argv = ["openssl", "speed", "-seconds", str(seconds), *many, "-evp", "sha256", "-bytes", "131072"]
    _, out = run(argv)
    line = next(ln for ln in out.splitlines() if ln.startswith("sha256"))
    return float(line.split()[-1].rstrip("k")) * 1000


def blake3_speed(seconds: float) -> float:
    """Bytes per CPU second of one core hashing 64 MiB buffers with BLAKE3 (the library modelseal uses),
    measured as ``openssl speed`` does."""
    from blake3 import blake3

    data = os.urandom(64 * MiB)
    done, start = 0, time.thread_time()
    while (used := time.thread_time() - start) < seconds:
        blake3(data, max_threads=1).digest()
        done += len(data)
    return done / used


def largest_first(sizes: list[int], cores: int) -> int:
    """Bytes on the busiest core when indivisible pieces are dealt largest first (modelseal's schedule)."""
    load = [0] * cores
    for size in sorted(sizes, reverse=True):
        load[load.index(min(load))] += size
    return max(load)


def _modelseal(*args: str) -> list[str]:
    return [sys.executable, "-c", "from modelseal.cli.app import console; console()", *args]


IN_PROCESS = (
    "import sys, time, pathlib\n"
    "from modelseal.api.integrity import LockRequest, Where, lock\n"
    "for _ in range(2):  # the first with an empty cache, the second with what it stored\n"
    "    t = time.perf_counter()\n"
    "    lock(LockRequest((Where(sys.argv[1]),), pathlib.Path(sys.argv[2])))\n"
    "    print(time.perf_counter() - t)\n"
)
INPROC = "modelseal lock in-process"
"""One subprocess, two figures: ``first`` and ``second``."""
HASHER = (
    "import sys, time, pathlib\n"
    "from modelseal.core.hashing import Range, hash_ranges, shard_ranges\n"
    "files = [p for p in sorted(pathlib.Path(sys.argv[1]).iterdir())]\n"
    "whole = [Range(p, 0, None, p.stat().st_size) for p in files]\n"
    "shards = [r for p in files for r in shard_ranges(p, p.stat().st_size, int(sys.argv[2]))]\n"
    "hash_ranges(whole[:2], 'blake3')  # imports and thread pool start before the clock\n"
    "for ranges, algorithm in [(whole, 'sha256'), (shards, 'sha256'), (whole, 'blake3')]:\n"
    "    t = time.perf_counter()\n"
    "    hash_ranges(ranges, algorithm)\n"
    "    print(time.perf_counter() - t)\n"
)
HASHING = "hasher in-process"
HASHED = [f"{HASHING}: sha256 files", f"{HASHING}: sha256 shards", f"{HASHING}: blake3 files"]
"""One subprocess, three figures: the hasher alone on lock's, sign shards' and BLAKE3's work."""
SHARD = 1_000_000_000


def contenders(folder: Path, work: Path, key: Path) -> list[tuple[str, list[str], dict[str, str] | None]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    cached = dict(env, MODELSEAL_DIGEST_CACHE=str(work / "digests.sqlite"))
    lock = _modelseal("lock", str(folder), "--lockfile", str(work / "modelseal.lock"))
    nocache = ["--no-digest-cache"]
    sign = _modelseal("sign", str(folder), "--private-key", str(key), *nocache)
    peer_sig = ["--signature", str(work / "peer.sig")]
    return [
        ("openssl dgst -sha256", ["openssl", "dgst", "-sha256", *map(str, sorted(folder.iterdir()))], None),
        (
            "model_signing sign (files)",
            [_peer("model_signing"), "sign", "key", "--private_key", str(key), str(folder), *peer_sig],
            None,
        ),
        (
            "modelseal lock (start-up: one tiny file)",
            [*lock[:-3], str(work / "tiny"), "--lockfile", str(work / "tiny.lock"), *nocache],
            env,
        ),
        ("modelseal lock (first, empty cache)", lock, cached),
        ("modelseal lock (second, unchanged)", lock, cached),
        (
            INPROC,
            [sys.executable, "-c", IN_PROCESS, str(folder), str(work / "inproc.lock")],
            dict(env, MODELSEAL_DIGEST_CACHE=str(work / "inproc.sqlite")),
        ),
        (HASHING, [sys.executable, "-c", HASHER, str(folder), str(SHARD)], env),
        ("modelseal sign --method files", [*sign, "--signature", str(work / "files.sig")], env),
        (
            "modelseal sign --method shards",
            [*sign, "--method", "shards", "--signature", str(work / "s.sig")],
            env,
        ),
        (
            "modelseal lock --hash blake3",
            [*lock[:-1], str(work / "blake3.lock"), "--hash", "blake3", *nocache],
            env,
        ),
        (
            "modelseal sign --method shards --hash blake3",
            [*sign, "--method", "shards", "--hash", "blake3", "--signature", str(work / "b3s.sig")],
            env,
        ),
    ]


def _peer(name: str) -> str:
    # beside this interpreter first: a version manager's shim on PATH would add its own start-up
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        sys.exit(f"{name} not found: pip install model-signing (the peer this bench compares with)")
    return found


def _statement(sig: Path) -> dict[str, str]:
    bundle = json.loads(sig.read_text())
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return {r["name"]: r["digest"] for r in payload["predicate"]["resources"]}


def check_work(work: Path, folder: Path, openssl_out: str) -> None:
    """Every tool hashed every file to the same digest."""
    import tomllib
    from blake3 import blake3

    def locked(name: str) -> dict[str, str]:
        return dict(tomllib.loads((work / name).read_text())["model"][0]["files"])

    ours, b3 = locked("modelseal.lock"), locked("blake3.lock")
    found = re.findall(r"SHA2?-?256\((.+)\)= ([0-9a-f]+)", openssl_out)
    theirs = {Path(path).name: hexdigest for path, hexdigest in found}
    peer, shards = _statement(work / "peer.sig"), _statement(work / "s.sig")
    for path in folder.iterdir():
        name, want = path.name, theirs[path.name]
        one_shard = shards.get(f"{name}:0:{path.stat().st_size}", want)  # the small files
        if ours[name] != f"sha256:{want}" or peer[name] != want or one_shard != want:
            sys.exit(
                f"digests disagree for {name}: openssl {want}, modelseal {ours[name]}, peer {peer[name]}"
            )
        h = blake3(max_threads=blake3.AUTO)
        h.update_mmap(str(path))
        if b3[name] != f"blake3:{h.hexdigest()}":
            sys.exit(f"BLAKE3 digests disagree for {name}: {b3[name]}")
    big = (folder / BIG).stat().st_size
    if sum(1 for n in shards if n.startswith(f"{BIG}:")) != -(-big // SHARD):
        sys.exit(f"the shards signature does not split {BIG} into shards of {SHARD} bytes")


def sweep(gib: float) -> int:
    """CPU seconds per GiB of each way to feed a hasher (read buffers, mapped windows), every core busy
    hashing the file: what chose ``BUFFER`` and ``WINDOW``."""
    import hashlib
    import mmap
    import resource
    import threading

    from blake3 import blake3

    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="modelseal-sweep-") as tmp:
        path = Path(tmp) / BIG
        size = int(gib * GiB)
        make_folder(Path(tmp), size)
        warm([path])

        def read(h: Any, n: int) -> None:
            buf = bytearray(n)
            view = memoryview(buf)
            with open(path, "rb", buffering=0) as f:
                while k := f.readinto(buf):
                    h.update(view[:k])

        def mapped(h: Any, n: int) -> None:
            with open(path, "rb", buffering=0) as f:
                for pos in range(0, size, n):
                    with mmap.mmap(f.fileno(), min(n, size - pos), access=mmap.ACCESS_READ, offset=pos) as m:
                        m.madvise(mmap.MADV_SEQUENTIAL)
                        with memoryview(m) as view:
                            h.update(view)

        ways = [(f"read {n >> 10} KiB", read, n) for n in (64 << 10, 128 << 10, 256 << 10, 1 << 20)]
        ways += [(f"map {n >> 20} MiB", mapped, n) for n in (4 << 20, 16 << 20, 64 << 20, 256 << 20)]
        algorithms: dict[str, Callable[[], Any]] = {
            "sha256": hashlib.sha256,
            "blake3": lambda: blake3(max_threads=1),
        }
        print(f"feed sweep: {cores} threads x {size / GiB:.2f} GiB (warm); load {os.getloadavg()}")
        cpu: dict[tuple[str, str], list[float]] = {}
        for _ in range(3):
            for algorithm, new in algorithms.items():
                for name, feed, n in ways:
                    r0 = resource.getrusage(resource.RUSAGE_SELF)
                    threads = [threading.Thread(target=feed, args=(new(), n)) for _ in range(cores)]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    r1 = resource.getrusage(resource.RUSAGE_SELF)
                    used = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
                    cpu.setdefault((algorithm, name), []).append(used / (cores * size / GiB))
        for (algorithm, name), spent in cpu.items():
            spent.sort()
            print(
                f"  {algorithm:<7}{name:>14}: CPU s/GiB min {spent[0]:.3f} "
                f"median {statistics.median(spent):.3f} max {spent[-1]:.3f}"
            )
        print(f"load after: {os.getloadavg()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="size of the big file in GiB (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--sweep", action="store_true", help="measure read buffers and map windows instead")
    args = parser.parse_args()
    if args.sweep:
        return sweep(min(args.gib, 0.5))
    cores = len(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="modelseal-bench-"))
    try:
        folder, work = tmp / "model", tmp / "work"
        folder.mkdir()
        work.mkdir()
        big = int(args.gib * GiB)
        paths = make_folder(folder, big)
        total = sum(p.stat().st_size for p in paths)
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        key = work / "key.pem"
        _make_key(key)
        (work / "tiny").mkdir()
        (work / "tiny" / "config.json").write_text("{}")
        time.sleep(2.1)  # older than the digest cache's settle window, as a downloaded model is
        print(
            f"folder: {len(paths)} files, {total / GiB:.3f} GiB; cores {cores}; "
            f"free memory {free / GiB:.1f} GiB"
        )
        print("page cache: WARM for every tool (the folder is read whole before each round)")
        compileall.compile_dir(ROOT / "src", quiet=1)  # written even under PYTHONDONTWRITEBYTECODE
        print(
            "bytecode: src/ compiled before the runs, as an installed package is (the peers' are); "
            f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}"
        )
        print(f"load average before: {os.getloadavg()}")
        rate, together, b3rate = openssl_speed(3), openssl_speed(3, multi=cores), blake3_speed(3)
        sizes = [p.stat().st_size for p in paths]
        shards = [min(SHARD, n - start) for n in sizes for start in range(0, n, SHARD)]
        ceiling = total / (cores * rate)
        bound = {
            "files": largest_first(sizes, cores) / rate,
            "shards": largest_first(shards, cores) / rate,
            "blake3": total / (cores * b3rate),
        }
        print(
            f"openssl speed -evp sha256 -bytes 131072 (per CPU second): {rate / GiB:.3f} GiB/s per core; "
            f"-multi {cores}: {together / GiB:.3f} GiB/s together\n"
            f"BLAKE3 (blake3 package, one thread, per CPU second): {b3rate / GiB:.3f} GiB/s per core\n"
            f"ceiling (issue 18), the folder over cores x openssl speed: {ceiling:.3f} s\n"
            f"bound of files (one file on one core, files dealt largest first): {bound['files']:.3f} s\n"
            f"bound of shards ({SHARD} B shards dealt largest first): {bound['shards']:.3f} s\n"
            f"bound of BLAKE3 (the folder over cores x one core's BLAKE3): {bound['blake3']:.3f} s"
        )
        runs = contenders(folder, work, key)
        names = [n for n, _, _ in runs if n not in (INPROC, HASHING)]
        names += [f"{INPROC} (first)", f"{INPROC} (second)", *HASHED]
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            warm(paths)
            for db in ("digests", "inproc"):
                for suffix in ("", "-wal", "-shm"):  # the first lock of each round finds the cache empty
                    (work / f"{db}.sqlite{suffix}").unlink(missing_ok=True)
            order = runs[r % len(runs) :] + runs[: r % len(runs)]
            order.sort(key=lambda c: "second" in c[0])  # the second locks after the first, rest rotated
            for name, argv, env in order:
                seconds, out = run(argv, env)
                if name == INPROC:
                    first_s, second_s = map(float, out.split())
                    times[f"{INPROC} (first)"].append(first_s)
                    times[f"{INPROC} (second)"].append(second_s)
                elif name == HASHING:
                    for figure, value in zip(HASHED, map(float, out.split()), strict=True):
                        times[figure].append(value)
                else:
                    times[name].append(seconds)
                if r == 0 and name.startswith("openssl"):
                    openssl_out = out
            if r == 0:
                check_work(work, folder, openssl_out)
            print(f"round {r + 1}/{args.rounds} done; load {os.getloadavg()[0]:.2f}", file=sys.stderr)
        print(f"\n{'contender':<48}{'min s':>8}{'median':>8}{'max s':>8}{'GiB/s':>8}")
        med = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{name:<48}{min(t):>8.3f}{med[name]:>8.3f}{max(t):>8.3f}{total / GiB / med[name]:>8.2f}")
        for name, seconds in [("ceiling: cores x openssl speed", ceiling)] + [
            (f"bound of {k}", v) for k, v in bound.items()
        ]:
            print(f"{name:<48}{'':>8}{seconds:>8.3f}{'':>8}{total / GiB / seconds:>8.2f}")
        peer, startup = med["model_signing sign (files)"], med["modelseal lock (start-up: one tiny file)"]
        print(
            f"\ngoals (medians; 'hashing' = the run less the {startup:.3f} s of the tiny-file lock, start-up "
            "and signing; 'bound' = what the method can reach on these cores):"
        )
        for name, kind in [
            ("modelseal lock (first, empty cache)", "files"),
            ("modelseal sign --method files", "files"),
            ("modelseal sign --method shards", "shards"),
        ]:
            speedup, over = peer / med[name], med[name] / ceiling - 1
            print(
                f"  {name}: {speedup:.2f}x model_signing (goal >= 1.3x: {_met(speedup >= 1.3)}); "
                f"{over * 100:+.0f} % vs ceiling (goal <= +15 %: {_met(over <= 0.15)}); hashing "
                f"{_vs(med[name] - startup, ceiling)} vs ceiling, {_vs(med[name] - startup, bound[kind])} vs "
                f"bound of {kind}"
            )
        for name, kind in zip(HASHED, ["files", "shards", "blake3"], strict=True):
            print(f"  {name}: {_vs(med[name], ceiling)} vs ceiling, {_vs(med[name], bound[kind])} vs bound")
        inproc = med[f"{INPROC} (first)"]
        print(
            f"  {INPROC} (first): {_vs(inproc, ceiling)} vs ceiling, {_vs(inproc, bound['files'])} vs bound"
        )
        first = med["modelseal lock (first, empty cache)"]
        for before, name in [(first, "modelseal lock (second, unchanged)"), (inproc, f"{INPROC} (second)")]:
            ratio = before / med[name]
            print(f"  {name}: {ratio:.1f}x faster than the first (goal >= 20x: {_met(ratio >= 20)})")
        for name, sha in [
            ("modelseal lock --hash blake3", first),
            ("modelseal sign --method shards --hash blake3", med["modelseal sign --method shards"]),
        ]:
            print(
                f"  {name}: {sha / med[name]:.2f}x the SHA-256 run; hashing "
                f"{_vs(med[name] - startup, bound['blake3'])} vs bound of BLAKE3"
            )
        print(f"load average after: {os.getloadavg()}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _vs(seconds: float, reference: float) -> str:
    return f"{(seconds / reference - 1) * 100:+.0f} %"


def _met(ok: bool) -> str:
    return "goal met" if ok else "goal NOT met"


def _make_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)


if __name__ == "__main__":
    sys.exit(main())
