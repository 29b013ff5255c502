"""Change-point detectors for one stream of numbers (a model's confidence, a feature, an error rate).

Both are small, dependency-free implementations of the published methods; river's versions can be used
instead through :func:`river_detector` (optional) and are compared in ``bench/bench_drift.py``.

- :class:`PageHinkley` (Page, 1954; Hinkley, 1971): cumulative deviations from a mean, in both
  directions. With a stored reference profile the mean and spread are *known* (the reference's), which
  turns it into a two-sided CUSUM on standardised values: the fastest detector of a mean shift at a given
  false-alarm rate. Without a reference it learns the mean from the stream, as the original does.
- :class:`Adwin` (Bifet and Gavaldà, 2007): an adaptive window that is cut where its two parts have
  significantly different means (Bernstein bound). Buckets of ``bucket`` values bound the cost.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol


class Detector(Protocol):
    def update(self, value: float) -> bool:
        """Feed one value; True when a change is detected at it (the detector then restarts)."""
        ...


@dataclass
class PageHinkley:
    """Two-sided Page–Hinkley / CUSUM. ``delta`` and ``threshold`` are in units of ``scale``."""

    delta: float = 0.25
    """Magnitude of change tolerated (half the smallest shift worth detecting, in ``scale`` units)."""
    threshold: float = 22.0
    """Alarm level of the cumulative sum; 22 with ``delta`` 0.25 gives about one false alarm per
    200,000 stationary values (Siegmund's approximation, checked in bench/bench_drift.py)."""
    mean: float | None = None
    """The reference mean; None to learn it (and the spread) from the first ``warmup`` values."""
    scale: float = 1.0
    warmup: int = 100
    _known: bool = field(default=False, init=False)
    _seen: list[float] = field(default_factory=list, init=False)
    _up: float = field(default=0.0, init=False)
    _down: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._known = self.mean is not None

    def update(self, value: float) -> bool:
        if self.mean is None:
            self._seen.append(value)
            if len(self._seen) == self.warmup:
                n = len(self._seen)
                self.mean = sum(self._seen) / n
                spread = math.sqrt(sum((v - self.mean) ** 2 for v in self._seen) / (n - 1))
                self.scale = spread or 1.0
                self._seen.clear()
            return False
        z = (value - self.mean) / self.scale
        self._up = max(0.0, self._up + z - self.delta)
        self._down = max(0.0, self._down - z - self.delta)
        if self._up > self.threshold or self._down > self.threshold:
            self.reset()
            return True
        return False

    def update_many(self, values: Any) -> list[int]:
        """Feed a batch; the indices that raised an alarm. With a known mean the recursion
        ``S_t = max(0, S_{t-1} + z_t - delta)`` is solved in closed form over the batch (numpy), so a
        serving loop pays per batch, not per value."""
        import numpy as np

        v = np.asarray(values, dtype=np.float64)
        if len(v) == 0:
            return []
        if self.mean is None:
            return [i for i, x in enumerate(v) if self.update(float(x))]
        z = (v - self.mean) / self.scale
        up = _lindley(self._up, z - self.delta)
        down = _lindley(self._down, -z - self.delta)
        over = np.flatnonzero((up > self.threshold) | (down > self.threshold))
        if len(over) == 0:
            self._up, self._down = float(up[-1]), float(down[-1])
            return []
        first = int(over[0])
        self.reset()
        return [first] + [first + 1 + i for i in self.update_many(v[first + 1 :])]

    def reset(self) -> None:
        """Forget the accumulated evidence (after an alarm); a learnt mean is learnt again."""
        self._up = self._down = 0.0
        if not self._known:
            self.mean = None


def _lindley(start: float, steps: Any) -> Any:
    """All values of ``S_t = max(0, S_{t-1} + steps_t)`` from ``S_0 = start``."""
    import numpy as np

    c = np.cumsum(steps)
    return np.maximum(start + c, c - np.minimum.accumulate(np.minimum(c, 0.0)))


@dataclass
class _Bucket:
    n: int = 0
    total: float = 0.0
    squares: float = 0.0


@dataclass
class Adwin:
    """ADWIN over buckets of ``bucket`` values; checks every cut between buckets when a bucket fills."""

    delta: float = 0.002
    bucket: int = 32
    max_buckets: int = 512
    min_side: int = 2
    """Buckets each side of a cut needs before it is tested."""
    _window: deque[_Bucket] = field(default_factory=deque, init=False)
    _open: _Bucket = field(default_factory=_Bucket, init=False)

    def update(self, value: float) -> bool:
        b = self._open
        b.n, b.total, b.squares = b.n + 1, b.total + value, b.squares + value * value
        if b.n < self.bucket:
            return False
        self._window.append(b)
        self._open = _Bucket()
        if len(self._window) > self.max_buckets:
            self._window.popleft()
        return self._cut()

    def _cut(self) -> bool:
        buckets = list(self._window)
        n = sum(b.n for b in buckets)
        total = sum(b.total for b in buckets)
        var = max(sum(b.squares for b in buckets) / n - (total / n) ** 2, 0.0)
        log_term = math.log(2 * math.log(n) / self.delta) if n > 1 else 0.0
        n0 = s0 = 0.0
        cut = -1
        for i, b in enumerate(buckets[:-1]):
            n0, s0 = n0 + b.n, s0 + b.total
            if i + 1 < self.min_side or len(buckets) - i - 1 < self.min_side:
                continue
            n1 = n - n0
            m = 1.0 / (1.0 / n0 + 1.0 / n1)
            eps = math.sqrt(2.0 * var * log_term / m) + 2.0 * log_term / (3.0 * m)
            if abs(s0 / n0 - (total - s0) / n1) > eps:
                cut = i
        if cut < 0:
            return False
        for _ in range(cut + 1):
            self._window.popleft()
        return True


def river_detector(name: str, **kwargs: Any) -> Detector:
    """river's ``ADWIN``, ``KSWIN`` or ``PageHinkley`` behind the same ``update`` (needs ``river``)."""
    from river import drift

    model = getattr(drift, name)(**kwargs)

    class _River:
        def update(self, value: float) -> bool:
            model.update(value)
            return bool(model.drift_detected)

    return _River()
