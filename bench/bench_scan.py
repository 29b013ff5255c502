"""Folder scan speed: the default ``-j`` next to ``-j 1``, and a mixed folder next to picklescan, same run.

Cases (issue 18):

* folders of 10, 100, 1000 and 10 000 mixed small files (pickles, JSON, safetensors, text, ``.npy``, small
  torch zips), each scanned by ``modelseal scan`` with its default ``-j`` and with ``-j 1``, with the plan
  the default chose beside (one process is exactly the ``-j 1`` path: a difference is then noise);
* the per-file cost, from the ``-j 1`` medians: (time at the largest folder - time at the smallest) / files;
* the mixed 200-file folder scanned by modelseal (default ``-j``), by picklescan and by modelscan.

Every run is a fresh process with its output thrown away; the rounds are interleaved (every case and tool
once per round, in turn), so that noise on a shared machine hits all of them alike, after one unmeasured
warm-up round (bytecode and page cache). Wall time is shown as min / median / max over the rounds, CPU
time (user + system of the process and its workers) as the median. The load average is printed before and
after: figures taken under load are not figures. The peers come from ``bench/.venv-peers`` (created on
first use, as ``bench/bench_precision.py`` does); modelseal runs from this checkout with this interpreter,
and so do the peers (their venv's packages on the path): every tool pays the same interpreter start-up,
whatever this machine's site hooks cost (printed as "interpreter start-up"; here a sandbox hook that
imports certifi makes it ~0.15 s). picklescan run from its own venv is printed beside, for reference.

Usage: ``python bench/bench_scan.py [--counts 10,100,1000,10000] [--rounds 5] [--mixed 200] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / ".venv-peers"
sys.path.insert(0, str(ROOT / "src"))  # the plan below, from this checkout's modelseal
MODELSEAL = [sys.executable, "-c", "from modelseal.cli.app import console; console()", "scan"]
MEASURE = (
    "import resource, subprocess, sys, time;"
    "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,"
    " stderr=subprocess.DEVNULL).returncode; wall = time.perf_counter() - t;"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(wall, u.ru_utime + u.ru_stime, rc)"
)


def ensure_peers() -> Path:
    if not (PEERS / "bin" / "picklescan").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        subprocess.run([str(PEERS / "bin" / "pip"), "install", "-q", "picklescan", "modelscan"], check=True)
    return PEERS / "bin"


def measure(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the command and its children, exit code) of one fresh run."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *_peer_paths()])
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True, cwd=cwd, env=env
    )
    wall, cpu, rc = out.stdout.split()
    return float(wall), float(cpu), int(rc)


def _peer_paths() -> list[str]:
    return [str(p) for p in sorted(PEERS.glob("lib/python*/site-packages"))]


def peer(module: str, function: str, *args: str) -> list[str]:
    """A peer's console entry point, run by this interpreter with the peers' packages on the path."""
    call = f"import sys; sys.argv[0] = {module!r}; from {module}.cli import {function} as f; sys.exit(f())"
    return [sys.executable, "-c", call, *args]


def _torch_zip_bytes(i: int) -> bytes:
    """A small checkpoint laid out as torch.save writes one (a data.pkl and one stored storage)."""
    import io

    pkl = (
        b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02((X\x07\x00\x00\x00"
        b"storageq\x03ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05X\x03\x00\x00\x00cpuq\x06K\x04tq\x07"
        b"QK\x00K\x04\x85q\x08K\x01\x85q\x09\x89ccollections\nOrderedDict\nq\x0a)Rq\x0btq\x0cRq\x0ds."
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"m{i}/data.pkl", pkl)
        zf.writestr(f"m{i}/data/0", struct.pack("<4f", 0.1, 0.2, 0.3, float(i)))
        zf.writestr(f"m{i}/version", "3\n")
    return buf.getvalue()


def make_mixed(folder: Path, count: int) -> None:
    """``count`` small files of six everyday kinds, in turn."""
    folder.mkdir(parents=True)
    header = json.dumps({"w": {"dtype": "F32", "shape": [16], "data_offsets": [0, 64]}}).encode()
    header += b" " * (-len(header) % 8)
    safetensors = struct.pack("<Q", len(header)) + header + bytes(64)
    npy_head = b"{'descr': '<f4', 'fortran_order': False, 'shape': (32,), }"
    npy_head += b" " * (63 - (10 + len(npy_head)) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(npy_head)) + npy_head + bytes(128)
    for i in range(count):
        kind = i % 6
        if kind == 0:
            data = pickle.dumps({"w": list(range(50)), "name": f"m{i}"}, protocol=4)
            (folder / f"m{i:05d}.pkl").write_bytes(data)
        elif kind == 1:
            (folder / f"c{i:05d}.json").write_text(json.dumps({"id": i, "layers": list(range(20))}))
        elif kind == 2:
            (folder / f"t{i:05d}.safetensors").write_bytes(safetensors)
        elif kind == 3:
            (folder / f"r{i:05d}.txt").write_text("a line of text\n" * 20)
        elif kind == 4:
            (folder / f"a{i:05d}.npy").write_bytes(npy)
        else:
            (folder / f"z{i:05d}.pt").write_bytes(_torch_zip_bytes(i))


def plan(folder: Path) -> str:
    """What the default ``-j`` decides for ``folder``: with one process it runs exactly what ``-j 1`` runs,
    so a difference between the two is the machine's noise."""
    from modelseal.parallel import default_jobs, planned_workers
    from modelseal.sources.local import resolve_local

    workers = planned_workers(resolve_local(str(folder)).files, default_jobs())
    return "plan: 1 process, the -j 1 path" if workers == 1 else f"plan: {workers} processes"


def spread(values: list[float]) -> str:
    return f"{min(values):7.3f} {statistics.median(values):7.3f} {max(values):7.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="10,100,1000,10000", help="folder sizes, comma-separated")
    ap.add_argument("--rounds", type=int, default=5, help="measured rounds (after one warm-up round)")
    ap.add_argument("--mixed", type=int, default=200, help="files of the folder scanned beside picklescan")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    peers = ensure_peers()
    work = Path(tempfile.mkdtemp(prefix="modelseal-bench-scan-", dir=args.workdir))
    print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}", flush=True)
    try:
        folders = {n: work / f"mixed{n}" for n in counts}
        for n, folder in folders.items():
            make_mixed(folder, n)
        peer_folder = work / f"peer{args.mixed}"
        make_mixed(peer_folder, args.mixed)
        runs: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
        cases: list[tuple[str, str, list[str]]] = []
        for n, folder in folders.items():
            for mode, extra in (("-j default", []), ("-j 1", ["-j", "1"])):
                cases.append((f"{n} files", mode, [*MODELSEAL, str(folder), "--format", "json", *extra]))
        mixed = f"mixed {args.mixed}"
        cases.append((mixed, "modelseal", [*MODELSEAL, str(peer_folder), "--format", "json"]))
        cases.append((mixed, "picklescan", peer("picklescan", "main", "--path", str(peer_folder))))
        if (peers / "modelscan").exists():
            cases.append((mixed, "modelscan", peer("modelscan", "main", "-p", str(peer_folder))))
        cases.append((mixed, "picklescan venv", [str(peers / "picklescan"), "--path", str(peer_folder)]))
        cases.append(("interpreter", "start-up", [sys.executable, "-c", "pass"]))
        for round_ in range(args.rounds + 1):
            # every other round in reverse: a scan right after one of the same folder finds the kernel's
            # caches warmer, so neither of a pair is always the second
            for case, tool, cmd in cases[:: -1 if round_ % 2 else 1]:
                result = measure(cmd, work)
                if round_:  # round 0 warms the caches
                    runs.setdefault((case, tool), []).append(result)
        print(f"{'case':14} {'tool':15} {'wall s: min  median    max':>26} {'cpu s':>7}  exit  ratio")
        for case, tool, _ in cases:
            got = runs[(case, tool)]
            walls = [r[0] for r in got]
            ratio = ""
            if tool in ("-j default", "modelseal"):
                other = "-j 1" if tool == "-j default" else "picklescan"
                base = statistics.median(r[0] for r in runs[(case, other)])
                ratio = f"{statistics.median(walls) / base:.2f}x {other}"
            if tool == "-j default":
                ratio += f" ({plan(folders[int(case.split()[0])])})"
            cpu = statistics.median(r[1] for r in got)
            print(f"{case:14} {tool:15} {spread(walls):>26} {cpu:7.3f}  {got[0][2]:4}  {ratio}")
        if len(counts) > 1:
            small, large = min(counts), max(counts)
            for tool in ("-j 1", "-j default"):
                t_small = statistics.median(r[0] for r in runs[(f"{small} files", tool)])
                t_large = statistics.median(r[0] for r in runs[(f"{large} files", tool)])
                c_small = statistics.median(r[1] for r in runs[(f"{small} files", tool)])
                c_large = statistics.median(r[1] for r in runs[(f"{large} files", tool)])
                per_wall = (t_large - t_small) / (large - small) * 1e3
                per_cpu = (c_large - c_small) / (large - small) * 1e3
                print(f"per-file cost {tool:11}: {per_wall:.3f} ms wall, {per_cpu:.3f} ms cpu")
        version = subprocess.run(
            [str(peers / "pip"), "list", "--format", "freeze"], capture_output=True, text=True, check=False
        ).stdout.split()
        print("peers:", ", ".join(v for v in version if v.split("==")[0] in ("picklescan", "modelscan")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
