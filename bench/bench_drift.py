"""Change detection on synthetic streams with a shift at a known point: modelseal beside river and evidently.

    python bench/bench_drift.py [--runs 20] [--stationary 100000]

For every detector: the median (min, max) detection delay in samples after the shift over ``--runs``
streams of 2,000 stationary samples then 3,000 shifted ones (a miss counts as 3,000), the share of runs
where it missed, and the false alarms per 10,000 samples on a separate stationary stream. Every detector
sees the same streams in the same process. modelseal's detectors: Page-Hinkley anchored on the stored
reference profile (mean and spread of 5,000 reference samples: what `Monitor` does), ADWIN (own
implementation), and the windowed tests of `Monitor` (500 per window; PSI, KS, chi2, JS, Wasserstein).
Peers: river's ADWIN, KSWIN and PageHinkley (defaults), and evidently's default data-drift test on the
same windows, when installed. KSWIN is slow (a KS test per sample), so it gets a fifth of the stationary
stream.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modelseal.defense.monitor import Monitor, ReferenceProfile
from modelseal.defense.monitor.changepoint import Adwin, Detector, PageHinkley, river_detector

CHANGE, AFTER = 2000, 3000
STREAMS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "mean +0.5 sd": lambda rng, n: rng.normal(0.5, 1.0, n),
    "mean +1 sd": lambda rng, n: rng.normal(1.0, 1.0, n),
    "spread x2": lambda rng, n: rng.normal(0.0, 2.0, n),
}


class WindowTests:
    """`Monitor`'s windowed statistics as a per-sample detector (an alarm at the end of a drifted window)."""

    def __init__(self, profile: ReferenceProfile, window: int = 500) -> None:
        self.monitor = Monitor(profile, window=window, watch=())

    def update(self, value: float) -> bool:
        return bool(self.monitor.observe({"x": value}))


def detectors(profile: ReferenceProfile) -> dict[str, Callable[[], Detector]]:
    ref = profile.feature("x")
    found: dict[str, Callable[[], Detector]] = {
        "modelseal Page-Hinkley (reference)": lambda: PageHinkley(mean=ref.mean, scale=ref.std),
        "modelseal ADWIN": Adwin,
        "modelseal window tests (500)": lambda: WindowTests(profile),
    }
    if importlib.util.find_spec("river"):
        found["river ADWIN"] = lambda: river_detector("ADWIN")
        found["river KSWIN"] = lambda: river_detector("KSWIN", seed=0)
        found["river PageHinkley"] = lambda: river_detector("PageHinkley")
    return found


def alarms(det: Detector, x: np.ndarray) -> list[int]:
    return [i for i, v in enumerate(x) if det.update(float(v))]


def evidently_delay(reference: np.ndarray, x: np.ndarray, window: int = 500) -> list[int]:
    """evidently's default drift test for one numeric column, on consecutive windows."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    hits = []
    ref = pd.DataFrame({"x": reference})
    for start in range(0, len(x) - window + 1, window):
        report = Report([DataDriftPreset()]).run(pd.DataFrame({"x": x[start : start + window]}), ref)
        if "Drifted columns" in str(report.dict()) and '"share": 0.0' not in str(report.dict()):
            hits.append(start + window - 1)
    return hits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--stationary", type=int, default=100_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    profile = ReferenceProfile.fit({"x": rng.normal(size=5000)})
    versions = []
    for name in ("river", "evidently"):
        if importlib.util.find_spec(name):
            versions.append(f"{name} {__import__(name).__version__}")
        else:
            versions.append(f"{name}: not installed")
    print("peers:", ", ".join(versions))
    stationary = rng.normal(size=args.stationary)
    streams = {kind: [np.concatenate([rng.normal(size=CHANGE), make(rng, AFTER)]) for _ in range(args.runs)]
               for kind, make in STREAMS.items()}  # fmt: skip
    print(
        f"{'detector':36} {'FA/10k':>7} "
        + " ".join(f"{k + ' delay med (min-max) miss':>36}" for k in STREAMS)
    )
    for name, make in detectors(profile).items():
        start = time.perf_counter()
        n = args.stationary // 5 if "KSWIN" in name else args.stationary
        fa = len(alarms(make(), stationary[:n])) * 10_000 / n
        cells = []
        for kind in STREAMS:
            delays = []
            for x in streams[kind]:
                after = [i - CHANGE for i in alarms(make(), x) if i >= CHANGE]
                delays.append(after[0] if after else AFTER)
            missed = sum(d >= AFTER for d in delays) / len(delays)
            cells.append(
                f"{statistics.median(delays):>8.0f} ({min(delays):>4}-{max(delays):>4}) {missed:>6.0%}"
            )
        print(
            f"{name:36} {fa:7.2f} "
            + " ".join(f"{c:>36}" for c in cells)
            + f"   [{time.perf_counter() - start:.0f} s]"
        )
    if importlib.util.find_spec("evidently"):
        ref = rng.normal(size=5000)
        fa = len(evidently_delay(ref, stationary[:20_000])) * 10_000 / 20_000
        cells = []
        for kind in STREAMS:
            delays = []
            for x in streams[kind][:5]:
                after = [i - CHANGE for i in evidently_delay(ref, x) if i >= CHANGE]
                delays.append(after[0] if after else AFTER)
            cells.append(f"{statistics.median(delays):>8.0f} ({min(delays):>4}-{max(delays):>4}) "
                         f"{sum(d >= AFTER for d in delays) / len(delays):>6.0%}")  # fmt: skip
        print(f"{'evidently DataDriftPreset (500)':36} {fa:7.2f} " + " ".join(f"{c:>36}" for c in cells))


if __name__ == "__main__":
    main()
