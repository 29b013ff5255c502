"""The plain-zip reader (``scanners/_plainzip.c``) against the zip scanner's reference path, on more mutated
archives than the test suite runs.

Input ``i`` is a mutation (bytes changed near the headers, inserted, removed, the end cut off) of one of
three archives (a ``torch.save`` checkpoint, a torch layout with a malicious pickle, a zip with a folder and
a pickle), built from ``random.Random(seed + i)``. For each: where the reader lists members they must be
exactly those ``zipfile`` and ``member_spans`` read with nothing wrong, and the zip scanner's findings must
be the same with the reader and without it (``tests/scanners/zipcompare.py``). Prints how many inputs were
plain, and the first seed that diverges (its input is rebuilt from that seed).

To check the C code's memory safety at the same time, build it with the sanitizers and preload them::

    SO=src/modelseal/scanners/_plainzip$(python3-config --extension-suffix)
    gcc -O1 -g -fsanitize=address,undefined -shared -fPIC $(python3-config --includes) \\
        src/modelseal/scanners/_plainzip.c -o $SO
    ASAN_OPTIONS=detect_leaks=0 \\
        LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \\
        python bench/fuzz_plainzip.py --inputs 40000

(then rebuild it normally: ``pip install -e .``).

Usage: ``python bench/fuzz_plainzip.py [--inputs 20000] [--seed 0]``
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import torch  # noqa: E402
from tests.scanners.zipcompare import compare, mutations, sources  # noqa: E402

from modelseal.scanners import plainzip  # noqa: E402


def _checkpoint() -> bytes:
    buf = io.BytesIO()
    torch.save({f"layer{i}.weight": torch.full((4,), float(i)) for i in range(3)}, buf)
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if plainzip.COMPILED is None:
        print("the plain-zip reader is not built here (pip install -e . with a C compiler)")
        return 2
    print(f"load average before: {os.getloadavg()}", flush=True)
    archives = sources(_checkpoint())
    plain = 0
    start = time.perf_counter()
    for i in range(args.inputs):
        seed = args.seed + i
        rng = random.Random(seed)
        data = mutations(archives[seed % len(archives)], rng, 1)[0]
        try:
            plain += compare(data)
        except AssertionError as exc:
            print(f"seed {seed}: the reader and the reference path differ: {exc}")
            return 1
        if (i + 1) % 5000 == 0:
            print(f"{i + 1} inputs, {plain} plain, {time.perf_counter() - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start
    print(
        f"{args.inputs} inputs from seed {args.seed}: 0 divergences; {plain} read as plain archives, "
        f"{args.inputs - plain} by the reference path; {seconds:.0f} s ({args.inputs / seconds:.0f}/s)"
    )
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
