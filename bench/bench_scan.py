"""Scan speed and memory: modelseal next to picklescan and modelscan, measured in the same run.

Cases (issue 2): (a) a ~2 GB PyTorch zip checkpoint, (b) a ~1 GB pickle with large byte payloads,
(c) a folder of 500 small pickles, (d) start-up: one small file, interpreter start included.
All three tools run from one separate environment (``bench/.venv-peers``, created on first use: picklescan and
modelscan from PyPI, modelseal from this checkout), so that interpreter start-up costs the same for each.
Every tool runs in its own process, from the work folder (no project configuration is picked up), with
bytecode caching on (as in any installed package) and after one unmeasured warm-up run, so that all three
read their inputs from the page cache; the measured runs go round robin over the tools, and the median is
shown. Peak memory is the largest resident set size of the tool's processes.
``modelseal --digests`` also hashes every byte of every file (what ``lock``/``verify`` need); the plain scan
hashes only files with findings.

Usage: ``python bench/bench_scan.py [--size-gb 2] [--workdir DIR] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".venv-peers"
MEASURE = (
    "import resource, subprocess, sys, time;"
    "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,"
    " stderr=subprocess.DEVNULL).returncode;"
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)"
)


def ensure_peers() -> Path:
    pip = str(PEERS / "bin" / "pip")
    if not (PEERS / "bin" / "picklescan").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        subprocess.run([pip, "install", "-q", "picklescan", "modelscan", "-e", str(HERE.parent)], check=True)
    else:  # the checkout's entry points may have changed since the environment was made
        subprocess.run([pip, "install", "-q", "--no-deps", "-e", str(HERE.parent)], check=True)
    return PEERS / "bin"


def measure(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True, cwd=cwd, env=env
    )
    wall, rss_kb, rc = out.stdout.split()
    return float(wall), int(rss_kb) / 1024, int(rc)


def make_torch_zip(path: Path, gib: float) -> None:
    import torch

    n = int(gib * (1 << 30) / 4 / 16)
    torch.save({f"layer{i}.weight": torch.zeros(n) for i in range(16)}, path)


def make_big_pickle(path: Path, gib: float) -> None:
    block = os.urandom(1 << 20) * 64  # 64 MiB payloads, each distinct so that pickle cannot memoise them
    with open(path, "wb") as f:
        pickle.dump({f"blob{i}": bytes([i]) + block[1:] for i in range(int(gib * 16))}, f, protocol=4)


def make_small_pickles(folder: Path, count: int) -> None:
    folder.mkdir()
    for i in range(count):
        (folder / f"m{i:03d}.pkl").write_bytes(
            pickle.dumps({"w": list(range(50)), "name": f"m{i}"}, protocol=4)
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gb", type=float, default=2.0, help="size of case (a); case (b) is half of it")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and case; the median is shown")
    args = ap.parse_args()
    peers = ensure_peers()
    work = Path(tempfile.mkdtemp(prefix="modelseal-bench-", dir=args.workdir))
    modelseal = str(peers / "modelseal")
    try:
        cases = {
            "a: torch zip": work / "checkpoint.pt",
            "b: big-payload pickle": work / "payloads.pkl",
            "c: 500 small pickles": work / "small",
            "d: start-up, 1 small file": work / "one.pkl",
        }
        print(f"building inputs in {work} ...", file=sys.stderr)
        make_torch_zip(cases["a: torch zip"], args.size_gb)
        make_big_pickle(cases["b: big-payload pickle"], args.size_gb / 2)
        make_small_pickles(cases["c: 500 small pickles"], 500)
        cases["d: start-up, 1 small file"].write_bytes(pickle.dumps({"a": 1}))
        tools = {
            "modelseal": lambda p: [modelseal, "scan", str(p), "--format", "json"],
            "modelseal --digests": lambda p: [modelseal, "scan", str(p), "--format", "json", "--digests"],
            "picklescan": lambda p: [str(peers / "picklescan"), "--path", str(p)],
            "modelscan": lambda p: [str(peers / "modelscan"), "-p", str(p)],
        }
        versions = subprocess.run(
            [str(peers / "pip"), "list", "--format", "freeze"], capture_output=True, text=True, check=True
        ).stdout.split()
        print("peers:", ", ".join(v for v in versions if v.split("==")[0] in ("picklescan", "modelscan")))
        print(f"{'case':28} {'tool':24} {'wall s':>8} {'MB/s':>9} {'peak MB':>8}  exit")
        for case, path in cases.items():
            size = sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size
            for cmd in tools.values():
                measure(cmd(path), work)  # warm-up: bytecode caches and page cache
            # Round robin, so that a burst of noise on a shared machine hits every tool alike.
            rounds = [[measure(cmd(path), work) for cmd in tools.values()] for _ in range(args.repeat)]
            for i, tool in enumerate(tools):
                runs = [r[i] for r in rounds]
                wall = statistics.median(r[0] for r in runs)
                peak = max(r[1] for r in runs)
                print(
                    f"{case:28} {tool:24} {wall:8.3f} {size / wall / 1e6:9.1f} {peak:8.1f}  {runs[0][2]}",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
