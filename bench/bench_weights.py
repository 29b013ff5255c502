"""Weight statistics per byte (safetensors next to the same tensors in a torch zip), and a checkpoint of
50 000 tensors, with their peers, measured in the same run.

Usage: ``python bench/bench_weights.py [--mib 512] [--tensors 50000] [--rounds 5] [--dir /tmp]``

Writes the same float32 tensors (random values, the last one holding a NaN) as ``model.safetensors`` and as
a ``torch.save`` zip of about ``--mib`` MiB each, and a ``torch.save`` state dict of ``--tensors`` small
tensors. Then, in interleaved rounds, each run in a fresh interpreter:

* ``modelseal weights``: the weight-statistics scanner with statistics **on**, on each file. The run checks
  that the work was done: the NaN in the last tensor is reported (the statistics read every value), and the
  number of tensors measured equals the number written;
* ``plain read``: reading the file in 8 MiB chunks, doing nothing with the bytes (the disk/page-cache bound);
* ``torch load + stats``: the usual way, the whole file loaded by torch (``weights_only=True`` for the zip,
  safetensors' loader for the other), then the same statistics with torch;
* the 50 000-tensor checkpoint: ``modelseal scan --no-digests`` of it (start-up included), the same with
  the defaults (the digest, and with it the check for storages made only of NaN/Inf, which reads every
  byte and types every storage from the zip scan's reading of the pickle), and the scan alone in-process,
  with the peak resident memory of the process (VmHWM), next to ``picklescan`` (from
  ``bench/.venv-peers``).

Times are min / median / max over the rounds; the torch zip's cost per byte is shown as a ratio to
safetensors'. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / ".venv-peers"
TENSOR_ELEMENTS = 4 << 20  # 16 MiB of float32 per tensor

PLAIN = """
import sys, time
t = time.perf_counter()
with open(sys.argv[1], "rb", buffering=0) as f:
    buf = bytearray(8 << 20)
    while f.readinto(buf):
        pass
print(time.perf_counter() - t)
"""

# Times the weight-statistics scanner with statistics on; then (untimed) checks that they were computed.
MODELSEAL = """
import sys, time
from modelseal.core.limits import Limits
from modelseal.scanners.interface import ScanContext
from modelseal.scanners.registry import dispatch
from modelseal.scanners.weights import WeightsScanner, _measure_all, _safetensors, _torch_zip
from modelseal.sources.local import resolve_local
import numpy
artifact = resolve_local(sys.argv[1])
ctx = ScanContext(Limits(), dispatch, weight_statistics=True)
t = time.perf_counter()
found = WeightsScanner().scan_artifact(artifact, ctx)
seconds = time.perf_counter() - t
entry = artifact.files[0]
measure = _measure_all(numpy)
if entry.relpath.endswith(".pt"):
    measured = _torch_zip(measure, entry, Limits())
else:
    measured = _safetensors(measure, entry, ctx)[0]
nan = [f for f in found if f.rule_id == "MS-WEIGHTS-NONFINITE"]
assert nan, "statistics were not computed: the NaN was not found"
assert len(measured) == int(sys.argv[2]), (len(measured), sys.argv[2])
assert sum(m.stats.count for m in measured) == int(sys.argv[2]) * int(sys.argv[3])
print(seconds)
"""

PEER = """
import sys, time
import torch
t = time.perf_counter()
if sys.argv[1].endswith(".pt"):
    tensors = torch.load(sys.argv[1], weights_only=True, mmap=False)
else:
    from safetensors.torch import load_file
    tensors = load_file(sys.argv[1])
for a in tensors.values():
    a = a.float()
    torch.isnan(a).sum(); torch.isinf(a).sum(); a.mean(); a.std(); a.min(); a.max()
print(time.perf_counter() - t)
"""

SCAN_CLI = """
import subprocess, sys, time
t = time.perf_counter()
cli = "from modelseal.cli.app import console; console()"
argv = [sys.executable, "-c", cli, "scan", *sys.argv[1:], "--format", "json"]
subprocess.run(argv, stdout=subprocess.DEVNULL, check=False)
import resource
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""

SCAN_INPROCESS = """
import sys, time
from modelseal.api import scan
t = time.perf_counter()
result = scan(sys.argv[1], digests=False, lockfile=False)
seconds = time.perf_counter() - t
assert result.targets[0].files[0].format == "pytorch-zip", result.targets[0].files[0].format
assert not result.findings, [f.rule_id for f in result.findings]
print(seconds)
"""

PICKLESCAN = """
import subprocess, sys, time
t = time.perf_counter()
subprocess.run([sys.argv[2], "--path", sys.argv[1]], stdout=subprocess.DEVNULL, check=False)
import resource
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def write_models(folder: Path, mib: int) -> tuple[Path, Path, int]:
    """The same float32 tensors as safetensors and as a torch zip; the last one holds a NaN."""
    import torch
    from safetensors.torch import save_file

    count = max(1, (mib << 20) // (TENSOR_ELEMENTS * 4))
    gen = torch.Generator().manual_seed(0)
    state = {
        f"model.layers.{i}.mlp.weight": torch.randn(TENSOR_ELEMENTS, generator=gen) * 0.02
        for i in range(count)
    }
    state[f"model.layers.{count - 1}.mlp.weight"][TENSOR_ELEMENTS // 2] = float("nan")
    st, pt = folder / "st" / "model.safetensors", folder / "pt" / "model.pt"
    st.parent.mkdir()
    pt.parent.mkdir()
    save_file(state, st)
    torch.save(state, pt)
    return st, pt, count


def write_many(path: Path, tensors: int) -> None:
    import torch

    path.parent.mkdir()
    torch.save({f"blocks.{i // 8}.param{i % 8}": torch.zeros(4) for i in range(tensors)}, path)


def run(code: str, *args: str) -> tuple[float, float]:
    """(the seconds ``code`` printed, peak RSS in MiB) of ``code`` run in a fresh interpreter. ``code``
    prints the seconds, and the peak of the child it measures where it runs one; otherwise the peak is the
    interpreter's own (VmHWM: ru_maxrss would count the parent's)."""
    wrapper = (
        f"exec(compile({code!r}, 'bench', 'exec'))\n"
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "print(int(hwm.split()[1]) / 1024)\n"
    )
    # bytecode is written (round 0 warms it): a scanner imported on first use is otherwise compiled
    # from source inside the timed region, in every run
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode:
        raise SystemExit(f"run failed: {done.stderr[-2000:]}")
    *_, timed, own_peak = done.stdout.strip().splitlines()
    seconds, *child_peak = timed.split()
    return float(seconds), float(child_peak[0] if child_peak else own_peak)


def spread(values: list[float]) -> str:
    return f"{min(values):8.3f} {statistics.median(values):8.3f} {max(values):8.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mib", type=int, default=512, help="size of each of the two weight files (MiB)")
    parser.add_argument("--tensors", type=int, default=50_000, help="tensors of the many-tensor checkpoint")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (after one warm-up round)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to write the files")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}", flush=True)
    picklescan = PEERS / "bin" / "picklescan"
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        st, pt, count = write_models(folder, args.mib)
        many = folder / "many" / "checkpoint.pt"
        write_many(many, args.tensors)
        mib = {p: p.stat().st_size / (1 << 20) for p in (st, pt, many)}
        print(
            f"wrote {mib[st]:.0f} MiB safetensors, {mib[pt]:.0f} MiB torch zip ({count} tensors), "
            f"{args.tensors}-tensor checkpoint of {mib[many]:.1f} MiB in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        expected = (str(count), str(TENSOR_ELEMENTS))
        cases: dict[str, tuple[str, tuple[str, ...], int]] = {
            "safetensors  plain read": (PLAIN, (str(st),), st.stat().st_size),
            "safetensors  modelseal weights": (MODELSEAL, (str(st.parent), *expected), st.stat().st_size),
            "safetensors  torch load + stats": (PEER, (str(st),), st.stat().st_size),
            "torch zip    plain read": (PLAIN, (str(pt),), pt.stat().st_size),
            "torch zip    modelseal weights": (MODELSEAL, (str(pt.parent), *expected), pt.stat().st_size),
            "torch zip    torch load + stats": (PEER, (str(pt),), pt.stat().st_size),
            f"{args.tensors} tensors  modelseal scan (cli)": (SCAN_CLI, (str(many), "--no-digests"), 0),
            f"{args.tensors} tensors  modelseal scan (cli, defaults)": (SCAN_CLI, (str(many),), 0),
            f"{args.tensors} tensors  modelseal scan (in-process)": (SCAN_INPROCESS, (str(many),), 0),
        }
        if picklescan.exists():
            cases[f"{args.tensors} tensors  picklescan (cli)"] = (PICKLESCAN, (str(many), str(picklescan)), 0)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for round_ in range(args.rounds + 1):
            for name, (code, argv, _) in cases.items():
                got = run(code, *argv)
                if round_:  # round 0 warms the page cache and bytecode caches
                    results[name].append(got)
        print(f"{'run':50} {'seconds: min   median      max':>28} {'MiB/s':>7} {'peak MiB':>9}")
        per_byte: dict[str, float] = {}
        for name, (_, _, size) in cases.items():
            seconds = [r[0] for r in results[name]]
            median = statistics.median(seconds)
            rate = f"{size / (1 << 20) / median:7.0f}" if size else " " * 7
            if size and "modelseal" in name:
                per_byte[name.split()[0]] = median / size
            print(f"{name:50} {spread(seconds):>28} {rate} {max(r[1] for r in results[name]):9.0f}")
        if len(per_byte) == 2:
            ratio = per_byte["torch"] / per_byte["safetensors"]
            print(f"torch zip / safetensors, modelseal weights per byte: {ratio:.2f}x (goal <= 1.3x)")
        print("statistics verified computed: every tensor measured, the NaN in the last one reported")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
