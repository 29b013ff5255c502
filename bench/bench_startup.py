"""Start-up of ``modelseal scan`` on one small pickle: this checkout against an earlier revision, same run.

Wall and CPU time on a 2-core machine shared with other work swing by 2x, so the deciding figure here is
the count of instructions the process executes (valgrind's callgrind, hash seed fixed): it does not move
with load and tells a 1 % change apart. Times are printed beside it (min / median / max over interleaved
rounds) for scale. Both trees run with compiled bytecode, as an installed package does (the environment
may set ``PYTHONDONTWRITEBYTECODE``, which would otherwise make the tree without ``__pycache__`` look slow).
The interpreter alone (``python -c pass``, which includes this environment's ``site`` hooks) is measured
too, so the share modelseal adds is visible.

Usage: ``python bench/bench_startup.py [--base f0e7420] [--rounds 30]``
"""

from __future__ import annotations

import argparse
import compileall
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCAN = (
    "import sys; from modelseal.cli.app import console; "
    "sys.argv = ['modelseal', 'scan', sys.argv[1]]; console()"
)


def _env(src: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONHASHSEED"] = "0"
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def _command(src: Path | None, target: Path) -> list[str]:
    if src is None:
        return [sys.executable, "-c", "pass"]
    return [sys.executable, "-c", SCAN, str(target)]


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall * 1000, cpu * 1000


def _instructions(command: list[str], env: dict[str, str]) -> int | None:
    if shutil.which("valgrind") is None:
        return None
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    return None


def _spread(values: list[float]) -> str:
    return f"{min(values):7.1f} / {statistics.median(values):7.1f} / {max(values):7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="f0e7420", help="the revision to compare with")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        target = work / "small.pkl"
        target.write_bytes(pickle.dumps({"weights": [1.0, 2.0], "step": 3}, protocol=4))
        base = work / "base"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(base), args.base], check=True
        )
        try:
            trees: dict[str, Path | None] = {
                "python -c pass": None,
                f"modelseal scan @ {args.base}": base / "src",
                "modelseal scan @ this checkout": REPO / "src",
            }
            for src in trees.values():
                if src is not None:
                    compileall.compile_dir(src, quiet=1)
            for src in trees.values():  # warm the page cache and check that each runs
                _timed(_command(src, target), _env(src))
            wall: dict[str, list[float]] = {name: [] for name in trees}
            cpu: dict[str, list[float]] = {name: [] for name in trees}
            for _ in range(args.rounds):
                for name, src in trees.items():
                    w, c = _timed(_command(src, target), _env(src))
                    wall[name].append(w)
                    cpu[name].append(c)
            counts = {name: _instructions(_command(src, target), _env(src)) for name, src in trees.items()}
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=False)
    header = f"{'instructions':>14}   {'wall ms min / median / max':>27}   {'CPU ms min / median / max':>27}"
    print(f"{'':34} {header}")
    for name in trees:
        count = counts[name]
        shown = f"{count:,}" if count is not None else "(no valgrind)"
        print(f"{name:34} {shown:>14}   {_spread(wall[name]):>27}   {_spread(cpu[name]):>27}")
    names = list(trees)
    before, after = counts[names[1]], counts[names[2]]
    interpreter = counts[names[0]]
    if before and after and interpreter:
        own = (after - before) / (before - interpreter)
        print(
            f"modelseal's own share: {before - interpreter:,} -> {after - interpreter:,} instructions "
            f"({own:+.1%}); whole process {(after - before) / before:+.1%}"
        )
        print("goal (not slower than the base):", "met" if after <= before else "NOT met")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
