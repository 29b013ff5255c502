"""Weight-statistics throughput and peak memory on a large safetensors file, next to a plain read of it.

Usage: ``python bench/bench_weights.py [--gib 2] [--dir /tmp]``

Writes a safetensors file of ``--gib`` GiB (float32 and bfloat16 tensors of random values, streamed to disk),
then measures, each in a fresh subprocess so peak memory (max RSS) is the run's own:

* ``plain read``: reading the file sequentially in 8 MiB chunks, doing nothing with the bytes;
* ``modelseal weights``: the weight-statistics scanner (header, NaN/Inf, outliers, layer anomalies);
* ``safetensors load``: the usual approach for comparison, ``safetensors.numpy.load_file`` then the same
  statistics with torch on whole tensors (skipped when safetensors or torch is not installed).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TENSOR_BYTES = 64 << 20

PLAIN = """
import sys, time
t = time.perf_counter()
with open(sys.argv[1], "rb", buffering=0) as f:
    buf = bytearray(8 << 20)
    while f.readinto(buf):
        pass
print(time.perf_counter() - t)
"""

MODELSEAL = """
import sys, time
from modelseal.core.limits import Limits
from modelseal.scanners.interface import ScanContext
from modelseal.scanners.registry import dispatch
from modelseal.scanners.weights import WeightsScanner
from modelseal.sources.local import resolve_local
t = time.perf_counter()
found = WeightsScanner().scan_artifact(resolve_local(sys.argv[1]), ScanContext(Limits(), dispatch))
print(time.perf_counter() - t)
print(len(found), file=sys.stderr)
"""

PEER = """
import sys, time
import torch
from safetensors.torch import load_file
t = time.perf_counter()
for name, a in load_file(sys.argv[1]).items():
    a = a.float()
    torch.isnan(a).sum(); torch.isinf(a).sum(); a.mean(); a.std(); a.min(); a.max()
print(time.perf_counter() - t)
"""


def write_model(path: Path, total: int) -> None:
    """A safetensors file of about ``total`` bytes, written tensor by tensor (never held in memory)."""
    rng = np.random.default_rng(0)
    count = max(1, total // TENSOR_BYTES)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    plan = []
    for i in range(count):
        dtype, code = ("F32", "<f4") if i % 2 == 0 else ("BF16", "<u2")
        n = TENSOR_BYTES // (4 if dtype == "F32" else 2)
        header[f"model.layers.{i}.mlp.weight"] = {
            "dtype": dtype,
            "shape": [n],
            "data_offsets": [offset, offset + TENSOR_BYTES],
        }
        plan.append((code, n))
        offset += TENSOR_BYTES
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for code, n in plan:
            for start in range(0, n, 1 << 22):
                m = min(1 << 22, n - start)
                values = rng.standard_normal(m, dtype=np.float32) * 0.02
                chunk = values if code == "<f4" else (values.view(np.uint32) >> 16).astype(np.uint16)
                f.write(chunk.tobytes())


def measure(code: str, target: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of ``code`` run in a fresh interpreter."""
    # VmHWM (not ru_maxrss, which survives exec and would count the parent) is this process's own peak.
    wrapper = (
        f"exec(compile({code!r}, 'bench', 'exec'))\n"
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "print(int(hwm.split()[1]) / 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, str(target)], capture_output=True, text=True, check=True
    )
    seconds, peak = done.stdout.split()[-2:]
    return float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--gib", type=float, default=2.0, help="size of the generated file (GiB)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to write the file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "model.safetensors"
        t = time.perf_counter()
        write_model(path, int(args.gib * (1 << 30)))
        size = path.stat().st_size
        print(f"wrote {size / (1 << 30):.2f} GiB in {time.perf_counter() - t:.1f} s: {path}")
        runs = [("plain read (8 MiB chunks)", PLAIN), ("modelseal weights", MODELSEAL)]
        try:
            import safetensors  # noqa: F401
            import torch  # noqa: F401
        except ImportError:
            print("safetensors or torch not installed: skipping the load-whole-tensors peer")
        else:
            runs.append(("safetensors load + torch stats", PEER))
        measure(PLAIN, path)  # warm the page cache so every run reads from the same place
        print(f"{'run':34} {'seconds':>8} {'MiB/s':>9} {'peak RSS MiB':>13}")
        for label, code in runs:
            seconds, peak = measure(code, path)
            print(f"{label:34} {seconds:8.2f} {size / (1 << 20) / seconds:9.0f} {peak:13.0f}")
        print(f"cpu: {os.cpu_count()} cores; file in page cache for all runs")


if __name__ == "__main__":
    main()
