"""Canaries: known-answer probes run against the served model on a schedule.

Two kinds. **Known answers**: inputs whose right label is known (and, optionally, the probabilities
the approved model gave, with a tolerance): a swapped or quietly re-trained model answers them
differently. **Trigger canaries**: the trigger candidates that ``modelseal inspect`` reconstructed,
stamped on clean inputs: the approved model ignores them, a model that obeys them has been backdoored
(or replaced) since. Probes are stored as ``.npz`` (read without pickle).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelseal.defense.errors import DefenseError
from modelseal.defense.validate import as_probabilities

Predict = Callable[[Any], Any]
"""A batch of inputs -> a batch of probability (or logit) rows."""


@dataclass(frozen=True)
class CanarySuite:
    x: Any = field(repr=False)
    labels: Any = field(repr=False)
    """Expected label of each probe."""
    probs: Any = field(default=None, repr=False)
    """Expected probabilities (from the approved model), or None to check labels only."""
    tolerance: float = 0.05
    """Largest absolute difference in any class probability accepted."""
    trigger_mask: Any = field(default=None, repr=False)
    trigger_pattern: Any = field(default=None, repr=False)
    trigger_target: int | None = None
    max_trigger_rate: float = 0.2
    """Largest share of stamped probes (not already of the target class) allowed to go to the target."""

    @classmethod
    def load(cls, path: str | Path, tolerance: float = 0.05) -> CanarySuite:
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise DefenseError(f"{path}: not a canary file ({exc})") from None
        if "x" not in arrays or "y" not in arrays:
            raise DefenseError(
                f"{path}: canary files hold arrays x and y (and optionally probs, mask, pattern, target)"
            )
        target = arrays.get("target")
        return cls(arrays["x"], arrays["y"], arrays.get("probs"), tolerance, arrays.get("mask"),
                   arrays.get("pattern"), int(target) if target is not None else None)  # fmt: skip

    def save(self, path: str | Path) -> None:
        import numpy as np

        named = {"probs": self.probs, "mask": self.trigger_mask, "pattern": self.trigger_pattern}
        arrays: dict[str, Any] = {k: v for k, v in named.items() if v is not None}
        if self.trigger_target is not None:
            arrays["target"] = np.asarray(self.trigger_target)
        np.savez(path, x=self.x, y=self.labels, **arrays)


@dataclass(frozen=True)
class CanaryResult:
    passed: bool
    probes: int
    wrong_labels: tuple[int, ...]
    """Indices of probes answered with another label."""
    max_prob_change: float | None
    trigger_rate: float | None
    """Share of stamped probes sent to the trigger's target."""
    seconds: float
    at: float
    """Wall-clock time of the run."""


def run_canaries(predict: Predict, suite: CanarySuite) -> CanaryResult:
    import numpy as np

    start = time.perf_counter()
    probs = as_probabilities(predict(suite.x))
    wrong = tuple(int(i) for i in np.flatnonzero(probs.argmax(1) != np.asarray(suite.labels)))
    change = None
    if suite.probs is not None:
        change = float(np.abs(probs - np.asarray(suite.probs, dtype=np.float64)).max())
    rate = None
    if suite.trigger_mask is not None and suite.trigger_target is not None:
        keep = np.asarray(suite.labels) != suite.trigger_target
        stamped = (1 - suite.trigger_mask) * suite.x[keep] + suite.trigger_mask * suite.trigger_pattern
        hit = as_probabilities(predict(stamped.astype(suite.x.dtype))).argmax(1) == suite.trigger_target
        rate = float(hit.mean()) if len(hit) else 0.0
    passed = (
        not wrong
        and (change is None or change <= suite.tolerance)
        and (rate is None or rate <= suite.max_trigger_rate)
    )
    return CanaryResult(
        passed, len(suite.labels), wrong, change, rate, time.perf_counter() - start, time.time()
    )


def run_scheduled(
    predict: Predict,
    suite: CanarySuite,
    *,
    every: float,
    count: int,
    on_result: Callable[[CanaryResult], None],
    sleep: Callable[[float], None] = time.sleep,
) -> list[CanaryResult]:
    """Run the suite ``count`` times, ``every`` seconds apart (a scheduler or cron job runs ``count=1``)."""
    results = []
    for i in range(count):
        if i:
            sleep(every)
        result = run_canaries(predict, suite)
        on_result(result)
        results.append(result)
    return results
