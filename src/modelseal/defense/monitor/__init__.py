"""Watch a served model: drift of inputs and outputs over windows, change points, accuracy decay.

:class:`Monitor` takes one record per request (a flat mapping of feature name to number: input
statistics, the predicted class, the confidence...) and, optionally, labels when they arrive. It compares
each full window with the stored :class:`ReferenceProfile`, tracks the watched stream (the confidence,
by default) with a reference-anchored Page–Hinkley detector, and tracks correctness with ADWIN. Every
alert is a structured record (and a Prometheus counter when metrics are on).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from modelseal.defense.monitor.changepoint import Adwin, Detector, PageHinkley
from modelseal.defense.monitor.stats import Drift, DriftThresholds, ReferenceProfile, drift

__all__ = ["Alert", "Drift", "DriftThresholds", "Monitor", "ReferenceProfile"]


@dataclass(frozen=True)
class Alert:
    kind: str
    """``drift`` (a window differs from the reference), ``change-point`` (the watched stream shifted),
    ``accuracy`` (correctness changed once labels arrived)."""
    feature: str
    at: int
    """Index of the record (or label) that raised it."""
    detail: str
    stats: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Monitor:
    profile: ReferenceProfile
    window: int = 500
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    watch: tuple[str, ...] = ("confidence",)
    """Features tracked value by value with a change-point detector (those in the profile)."""
    on_alert: Callable[[Alert], None] | None = None
    every: int = 1024
    """Values :meth:`observe_batch` collects before running the detectors (alerts keep exact indices)."""
    metrics: bool = False
    """Export Prometheus metrics (needs ``prometheus_client``); read them with :meth:`metrics_text`."""
    _buffer: dict[str, list[float]] = field(default_factory=dict, init=False)
    _chunks: dict[str, list[Any]] = field(default_factory=dict, init=False)
    _pending: list[Mapping[str, Any]] = field(default_factory=list, init=False)
    _pending_n: int = field(default=0, init=False)
    """Batches observed through :meth:`observe_batch`, joined when the window is checked."""
    _detectors: dict[str, Detector] = field(default_factory=dict, init=False)
    _accuracy: Adwin = field(default_factory=Adwin, init=False)
    _seen: int = field(default=0, init=False)
    _labels: int = field(default=0, init=False)
    _correct: int = field(default=0, init=False)
    alerts: list[Alert] = field(default_factory=list, init=False)
    last: dict[str, Drift] = field(default_factory=dict, init=False)
    _registry: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        names = {f.name for f in self.profile.features}
        for name in self.watch:
            if name in names:
                ref = self.profile.feature(name)
                self._detectors[name] = PageHinkley(mean=ref.mean, scale=ref.std)
        self._buffer = {name: [] for name in names}
        self._chunks = {name: [] for name in names}
        if self.metrics:
            self._registry = _Metrics()

    def observe(self, record: Mapping[str, float]) -> list[Alert]:
        """One request's values; returns the alerts it raised (also kept in :attr:`alerts`)."""
        at = self._seen
        self._seen += 1
        raised = []
        for name, value in record.items():
            if name not in self._buffer:
                continue
            v = float(value)
            self._buffer[name].append(v)
            det = self._detectors.get(name)
            if det is not None and det.update(v):
                raised.append(Alert("change-point", name, at, f"{name} shifted from its reference level"))
        if self._seen % self.window == 0:
            raised += self._check_windows(at)
        return self._raise(raised)

    def observe_batch(self, columns: Mapping[str, Any], rows: int | None = None) -> list[Alert]:
        """A batch of requests as columns (feature name -> values; ``rows``: their length, when the caller
        knows it): the same alerts as observing each in turn, with the same record indices, but
        vectorised and processed ``every`` values at a time, so a serving loop pays for the detectors
        once per few batches. :meth:`flush` processes the rest."""
        if columns:
            self._pending.append(columns)
            self._pending_n += rows if rows is not None else max(len(v) for v in columns.values())
        if self._pending_n < self.every and self._pending_n < self.window - self._seen % self.window:
            return []
        return self.flush()

    def flush(self) -> list[Alert]:
        """Process the values :meth:`observe_batch` has held back."""
        import numpy as np

        if not self._pending:
            return []
        names = {k for part in self._pending for k in part if k in self._buffer}
        arrays = {
            k: np.concatenate(
                [np.asarray(part[k], dtype=np.float64).ravel() for part in self._pending if k in part]
            )
            for k in names
        }
        self._pending, self._pending_n = [], 0
        n = max((len(a) for a in arrays.values()), default=0)
        raised: list[Alert] = []
        done = 0
        while done < n:  # split at window boundaries so windows stay exactly ``window`` records long
            take = min(n - done, self.window - self._seen % self.window)
            at = self._seen
            for name, values in arrays.items():
                part = values[done : done + take]
                self._chunks[name].append(part)
                det = self._detectors.get(name)
                if isinstance(det, PageHinkley):
                    for i in det.update_many(part):
                        raised.append(
                            Alert("change-point", name, at + i, f"{name} shifted from its reference level")
                        )
            self._seen += take
            done += take
            if self._seen % self.window == 0:
                raised += self._check_windows(self._seen - 1)
        return self._raise(raised)

    def _check_windows(self, at: int) -> list[Alert]:
        raised = []
        features = len(self._buffer)
        import numpy as np

        for name, values in self._buffer.items():
            chunks = self._chunks[name]
            if values:
                chunks.append(np.asarray(values))
                values.clear()
            if not chunks:
                continue
            d = drift(self.profile.feature(name), np.concatenate(chunks))
            chunks.clear()
            self.last[name] = d
            if self._registry is not None:
                self._registry.record(d)
            hits = self.thresholds.drifted(d, features)
            if hits:
                stats = {k: v for k, v in vars(d).items() if isinstance(v, float)}  # asdict deep-copies
                raised.append(Alert("drift", name, at, f"{name} drifted ({', '.join(hits)})", stats))
        return raised

    def observe_label(self, correct: bool) -> list[Alert]:
        """Whether a past prediction proved right; a change in the correctness rate is an alert."""
        at = self._labels
        self._labels += 1
        self._correct += bool(correct)
        raised = []
        if self._accuracy.update(1.0 if correct else 0.0):
            rate = self._correct / self._labels
            raised.append(Alert("accuracy", "accuracy", at, f"accuracy changed (running {rate:.1%})",
                                {"running_accuracy": rate}))  # fmt: skip
        return self._raise(raised)

    def _raise(self, raised: list[Alert]) -> list[Alert]:
        for alert in raised:
            self.alerts.append(alert)
            if self._registry is not None:
                self._registry.alert(alert)
            if self.on_alert is not None:
                self.on_alert(alert)
        return raised

    def metrics_text(self) -> bytes:
        """Prometheus text exposition of the drift gauges and alert counters."""
        self.flush()
        if self._registry is None:
            return b""
        text: bytes = self._registry.text()
        return text


class _Metrics:
    """A private Prometheus registry, so several monitors (and the host app's own metrics) coexist."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry()
        self.gauges = {
            stat: Gauge(
                f"modelseal_drift_{stat}",
                f"{stat} of the last window against the reference",
                ["feature"],
                registry=self.registry,
            )
            for stat in ("psi", "ks", "js", "wasserstein")
        }
        self.alerts = Counter(
            "modelseal_alerts", "Alerts raised", ["kind", "feature"], registry=self.registry
        )

    def record(self, d: Drift) -> None:
        for stat, gauge in self.gauges.items():
            gauge.labels(d.feature).set(getattr(d, stat))

    def alert(self, a: Alert) -> None:
        self.alerts.labels(a.kind, a.feature).inc()

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))
