"""Hash a model folder (one 2 GiB file and small files) with modelseal and its peers, interleaved, in one run.

Every contender is a command run end to end in its own subprocess (interpreter start and imports included),
once per round; rounds interleave the contenders in a rotating order so load drifts hit them alike, and each
figure is printed as min / median / max over the rounds. The peers, from the same run:

- ``model_signing sign key`` (the OpenSSF reference tool; its default ``files`` serialisation),
- ``openssl dgst -sha256`` over every file (one process, one core),
- the ceiling: the folder's bytes over ``cores x openssl speed sha256`` (16 KiB blocks, from memory).

modelseal: ``lock`` (first, with an empty digest cache, then a second ``lock`` of the unchanged folder with
that cache), ``sign --method files`` and ``--method shards`` (both ``--no-digest-cache``: they hash), and
``lock --hash blake3``. Both locks are also timed in-process (after imports), since interpreter start-up
is most of it.

Page cache: the folder is generated, then read whole before every round, so every tool hashes from memory
(warm) alike; the machine's free memory is checked to hold it. The work is checked: the digest of every file
must be the same in openssl's output, modelseal's lockfile and model_signing's signature.

    python bench/bench_hashing.py [--gib 2] [--rounds 5]      # the acceptance run (issue 18)
    python bench/bench_hashing.py --gib 0.1 --rounds 2         # a smoke run
    python bench/bench_hashing.py --sweep                      # how BUFFER (core/hashing.py) was chosen

Goals (issue 18): lock and sign >= 1.3x faster than model-signing and within 15 % of the ceiling; the second
lock >= 20x faster than the first.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def openssl_speed(seconds: int) -> float:
    """Bytes per second of one core hashing 16 KiB blocks with SHA-256 (``openssl speed``)."""
    _, out = run(["openssl", "speed", "-seconds", str(seconds), "-bytes", "16384", "sha256"])
    line = next(ln for ln in out.splitlines() if ln.startswith("sha256"))
    return float(line.split()[-1].rstrip("k")) * 1000


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
    ]


def _peer(name: str) -> str:
    # beside this interpreter first: a version manager's shim on PATH would add its own start-up
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        sys.exit(f"{name} not found: pip install model-signing (the peer this bench compares with)")
    return found


def check_work(work: Path, folder: Path, openssl_out: str) -> None:
    """Every tool hashed every file to the same digest."""
    import tomllib

    ours = tomllib.loads((work / "modelseal.lock").read_text())["model"][0]["files"]
    found = re.findall(r"SHA2?-?256\((.+)\)= ([0-9a-f]+)", openssl_out)
    theirs = {Path(path).name: hexdigest for path, hexdigest in found}
    bundle = json.loads((work / "peer.sig").read_text())
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    peer = {r["name"]: r["digest"] for r in payload["predicate"]["resources"]}
    for name in (p.name for p in folder.iterdir()):
        want = theirs[name]
        if ours[name] != f"sha256:{want}" or peer[name] != want:
            sys.exit(
                f"digests disagree for {name}: openssl {want}, modelseal {ours[name]}, peer {peer[name]}"
            )


def sweep(seconds_gib: float) -> int:
    """CPU seconds per GiB of readinto + SHA-256 for each buffer size, every core busy (one file each)."""
    import hashlib
    import resource
    import threading

    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="modelseal-sweep-") as tmp:
        path = Path(tmp) / BIG
        size = int(seconds_gib * GiB)
        make_folder(Path(tmp), size)
        warm([path])

        def one(n: int) -> None:
            buf, h = bytearray(n), hashlib.sha256()
            view = memoryview(buf)
            with open(path, "rb", buffering=0) as f:
                while k := f.readinto(buf):
                    h.update(view[:k])

        print(f"buffer sweep: {cores} threads x {size / GiB:.2f} GiB (warm); load {os.getloadavg()}")
        sizes = [32 << 10, 64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 4 << 20]
        cpu: dict[int, list[float]] = {n: [] for n in sizes}
        for _ in range(3):
            for n in sizes:
                r0 = resource.getrusage(resource.RUSAGE_SELF)
                threads = [threading.Thread(target=one, args=(n,)) for _ in range(cores)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                r1 = resource.getrusage(resource.RUSAGE_SELF)
                used = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
                cpu[n].append(used / (cores * size / GiB))
        for n in sizes:
            s = sorted(cpu[n])
            print(
                f"  {n >> 10:>5} KiB: CPU s/GiB min {s[0]:.3f} "
                f"median {statistics.median(s):.3f} max {s[-1]:.3f}"
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="size of the big file in GiB (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--sweep", action="store_true", help="measure buffer sizes instead")
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
        rate = openssl_speed(3)
        ceiling = total / (cores * rate)
        print(
            f"openssl speed sha256 (16 KiB, CPU-time rate): {rate / GiB:.3f} GiB/s per core -> ceiling "
            f"{ceiling:.3f} s; one core on the big file alone: {big / rate:.3f} s"
        )
        print(f"load average before: {os.getloadavg()}")
        runs = contenders(folder, work, key)
        names = [n for n, _, _ in runs if n != INPROC] + [f"{INPROC} (first)", f"{INPROC} (second)"]
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
                else:
                    times[name].append(seconds)
                if r == 0 and name.startswith("openssl"):
                    openssl_out = out
            if r == 0:
                check_work(work, folder, openssl_out)
            print(f"round {r + 1}/{args.rounds} done; load {os.getloadavg()[0]:.2f}", file=sys.stderr)
        print(f"\n{'contender':<44}{'min s':>8}{'median':>8}{'max s':>8}{'GiB/s':>8}")
        med = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{name:<44}{min(t):>8.3f}{med[name]:>8.3f}{max(t):>8.3f}{total / GiB / med[name]:>8.2f}")
        print(
            f"{'ceiling: cores x openssl speed':<44}{'':>8}{ceiling:>8.3f}{'':>8}"
            f"{total / GiB / ceiling:>8.2f}"
        )
        peer = med["model_signing sign (files)"]
        print("\ngoals (medians):")
        for name in (
            "modelseal lock (first, empty cache)",
            "modelseal sign --method files",
            "modelseal sign --method shards",
        ):
            speedup, over = peer / med[name], med[name] / ceiling - 1
            print(
                f"  {name}: {speedup:.2f}x model_signing (goal >= 1.3x: {_met(speedup >= 1.3)}); "
                f"{over * 100:+.0f} % vs ceiling (goal <= +15 %: {_met(over <= 0.15)})"
            )
        inproc = med[f"{INPROC} (first)"]
        print(
            f"  {INPROC} (first), after start-up: {(inproc / ceiling - 1) * 100:+.0f} % vs ceiling, "
            f"{(inproc / (big / rate) - 1) * 100:+.0f} % vs one core on the big file (SHA-256 of one file is "
            "sequential: for information)"
        )
        first = med["modelseal lock (first, empty cache)"]
        for before, name in [(first, "modelseal lock (second, unchanged)"), (inproc, f"{INPROC} (second)")]:
            ratio = before / med[name]
            print(f"  {name}: {ratio:.1f}x faster than the first (goal >= 20x: {_met(ratio >= 20)})")
        b3 = med["modelseal lock --hash blake3"]
        print(f"  BLAKE3 lock: {total / GiB / b3:.2f} GiB/s end to end, {first / b3:.2f}x the SHA-256 lock")
        print(f"load average after: {os.getloadavg()}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
