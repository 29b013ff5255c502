"""What `modelseal.runtime.Guarded` adds to a model's latency: the behaviour tests' small CNN, trained as
they train it on 8x8 digits (so its answers are as confident as a served model's), batches of 64, one
torch thread.

    python bench/bench_guarded.py [--repeats 300] [--no-strip]

Configurations, timed interleaved in the same process, each round in a shuffled order (min / median /
mean / max microseconds per batch;
the mean includes the monitor's drift check, which runs once per window):
the bare model (forward pass and softmax under torch.no_grad, as Guarded runs it: the code a service
would run anyway; the overheads are against this line), the same under torch.inference_mode (for
reference: no faster on this model); Guarded with a
calibrated confidence gate (with conformal sets) and the drift monitor (window 1000; confidence and
predicted class watched), with the gate compiled (numba, extra ``jit``) when it is installed; the same
with the numpy gate (the reference the kernel is held equal to); the same with
STRIP on 10 % of the inputs; STRIP on every input. The goal: Guarded under +10 % of the bare model.
Printed beside them: the share of answers the gate accepted (it must be near the calibrated 1 - false
rejections on clean digits: the gate ran and judged) and the monitor's last checked window.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modelseal.behavior.strip import StripDetector
from modelseal.defense.monitor import Monitor, ReferenceProfile
from modelseal.defense.validate import ConfidenceGate, OutputValidator
from modelseal.runtime import Guarded


def behaviour_tests() -> ModuleType:
    """tests/behavior/conftest.py: the small CNN, its training and the digits, as the behaviour tests build
    them."""
    path = Path(__file__).resolve().parents[1] / "tests" / "behavior" / "conftest.py"
    spec = importlib.util.spec_from_file_location("behaviour_conftest", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--no-strip", action="store_true", help="time the bare model and Guarded only")
    args = parser.parse_args()
    load = os.getloadavg()
    torch.set_num_threads(1)
    tests = behaviour_tests()
    x, y = tests._digits()
    model = tests._cnn(3)
    tests._fit(model, x[:1000], y[:1000], epochs=12)
    clean, live = x[1000:1400], x[1400:]
    base = Guarded(model, outputs="logits")
    probs = base.probabilities(clean)
    gate = ConfidenceGate.calibrate(probs, y[1000:1400], false_reject=0.01, conformal_alpha=0.05)
    profile = ReferenceProfile.fit(base.default_columns(probs))
    strip = StripDetector.calibrate(model, clean[:200], false_alarm=0.05)
    compiled = gate.runs_compiled  # compiles (or loads numba's cache) before the timing
    monitors: dict[str, Monitor] = {}
    accepted: dict[str, list[float]] = {}

    def guarded(name: str, share: float, the_gate: ConfidenceGate = gate) -> Callable[[np.ndarray], object]:
        monitor = monitors[name] = Monitor(profile, window=1000)
        accepted[name] = []
        g = Guarded(model, validator=OutputValidator(gate=the_gate), monitor=monitor,
                    strip=strip if share else None, strip_share=share, outputs="logits")  # fmt: skip
        return g.predict

    def bare(batch: np.ndarray) -> object:
        with torch.no_grad():
            return torch.softmax(model(torch.as_tensor(batch)), 1).numpy()

    def bare_inference(batch: np.ndarray) -> object:
        with torch.inference_mode():
            return torch.softmax(model(torch.as_tensor(batch)), 1).numpy()

    main_row = f"Guarded ({'compiled' if compiled else 'numpy'} gate)"
    runs: dict[str, Callable[[np.ndarray], object]] = {
        "bare model": bare,
        "bare (inference_mode)": bare_inference,
        main_row: guarded(main_row, 0.0),
    }
    if compiled:
        runs["Guarded (numpy gate)"] = guarded("Guarded (numpy gate)", 0.0, replace(gate, compiled=False))
    if not args.no_strip:
        runs["Guarded + STRIP on 10 %"] = guarded("Guarded + STRIP on 10 %", 0.1)
        runs["Guarded + STRIP on all"] = guarded("Guarded + STRIP on all", 1.0)
    batches = [live[i : i + 64] for i in range(0, len(live) - 64, 64)]
    times: dict[str, list[float]] = {name: [] for name in runs}
    for fn in runs.values():  # warm-up
        for b in batches[:5]:
            fn(b)
    order = list(runs.items())
    shuffle = random.Random(0).shuffle
    for r in range(args.repeats):
        b = batches[r % len(batches)]
        shuffle(order)  # each configuration follows each other equally often: no position bias
        for name, fn in order:
            t = time.perf_counter()
            out = fn(b)
            times[name].append((time.perf_counter() - t) * 1e6)
            if name in accepted:  # outside the timing: what a caller reads
                accepted[name].append(float(out.accepted.mean()))  # type: ignore[attr-defined]
    ref = statistics.median(times["bare model"])
    mean_ref = statistics.mean(times["bare model"])
    print(f"torch {torch.__version__}, 1 thread, batch 64, {args.repeats} rounds (interleaved, shuffled)")
    print(
        "the compiled gate:",
        "numba " + _numba_version() if compiled else "absent (pip install 'modelseal[jit]')",
    )
    print(
        f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after",
        *(f"{v:.2f}" for v in os.getloadavg()),
    )
    low = min(times["bare model"])
    head = (
        f"{'min us':>9} {'median us':>10} {'mean us':>9} {'max us':>10} {'+ at min':>9} {'+ at median':>12}"
    )
    head += f" {'+ mean':>8}"
    print(f"{'configuration':28} {head}")
    for name, ts in times.items():
        med, mean = statistics.median(ts), statistics.mean(ts)
        print(
            f"{name:28} {min(ts):9.0f} {med:10.0f} {mean:9.0f} {max(ts):10.0f} "
            f"{100 * (min(ts) / low - 1):+8.1f}% {100 * (med / ref - 1):+11.1f}% "
            f"{100 * (mean / mean_ref - 1):+7.1f}%"
        )
    print("work done (the share of answers the gate accepted; the monitor's last drift window):")
    for name, shares in accepted.items():
        last = monitors[name].last
        window = f"{', '.join(f'{d.feature} n={d.n}' for d in last.values())}" if last else "none"
        print(f"  {name:28} accepted {statistics.mean(shares):.1%}; {window}")
        if not 0.8 < statistics.mean(shares) < 1.0 or not last:
            raise SystemExit(f"{name}: the gate or the monitor did not do its work")


def _numba_version() -> str:
    import numba

    return str(numba.__version__)


if __name__ == "__main__":
    main()
