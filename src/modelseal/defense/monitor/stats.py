"""Drift statistics of a window of live values against a stored reference profile.

A :class:`ReferenceProfile` is computed once from clean reference data and stored as JSON: per feature,
quantile bin edges with the reference's share in each bin, its mean and spread, and a capped sample for
the two-sample tests. A window is then compared on five statistics: PSI and chi² (on the bins),
Jensen–Shannon distance (bins), Kolmogorov–Smirnov and Wasserstein (on the values, the latter in reference
standard deviations so one threshold fits every feature).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from modelseal.defense.errors import DefenseError

SAMPLE_CAP = 2000
"""Reference values kept per feature for KS and Wasserstein."""
EPS = 1e-4


@dataclass(frozen=True)
class FeatureProfile:
    name: str
    edges: tuple[float, ...]
    """Inner bin edges (quantiles of the reference); values below the first fall in bin 0."""
    shares: tuple[float, ...]
    mean: float
    std: float
    sample: tuple[float, ...] = field(repr=False)

    @cached_property
    def arrays(self) -> tuple[Any, Any]:
        """``edges`` and ``sample`` as numpy arrays, built once: a window's check reads them, and
        converting the 2,000-value sample from a tuple each time cost as much as the statistics."""
        import numpy as np

        return np.asarray(self.edges), np.asarray(self.sample)


@dataclass(frozen=True)
class ReferenceProfile:
    features: tuple[FeatureProfile, ...]

    @classmethod
    def fit(cls, values: dict[str, Any], bins: int = 10, seed: int = 0) -> ReferenceProfile:
        """Profile each named column of reference data (at least 50 finite values each)."""
        import numpy as np

        rng = np.random.default_rng(seed)
        out = []
        for name, column in values.items():
            x = np.asarray(column, dtype=np.float64)
            x = x[np.isfinite(x)]
            if len(x) < 50:
                raise DefenseError(f"reference feature {name!r} has {len(x)} values; at least 50 are needed")
            edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
            shares = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1) / len(x)
            sample = np.sort(rng.choice(x, min(len(x), SAMPLE_CAP), replace=False))
            out.append(
                FeatureProfile(
                    name,
                    tuple(map(float, edges)),
                    tuple(map(float, shares)),
                    float(x.mean()),
                    float(x.std()) or 1.0,
                    tuple(map(float, sample)),
                )
            )
        return cls(tuple(out))

    def feature(self, name: str) -> FeatureProfile:
        for f in self.features:
            if f.name == name:
                return f
        raise DefenseError(f"feature {name!r} is not in the reference profile")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps([asdict(f) for f in self.features]))

    @classmethod
    def load(cls, path: str | Path) -> ReferenceProfile:
        try:
            raw = json.loads(Path(path).read_text())
            features = [
                FeatureProfile(
                    str(f["name"]),
                    tuple(f["edges"]),
                    tuple(f["shares"]),
                    float(f["mean"]),
                    float(f["std"]),
                    tuple(f["sample"]),
                )
                for f in raw
            ]
            return cls(tuple(features))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DefenseError(f"{path}: not a reference profile ({exc})") from None


@dataclass(frozen=True)
class Drift:
    """The five statistics of one feature over one window."""

    feature: str
    psi: float
    ks: float
    ks_p: float
    chi2_p: float
    js: float
    wasserstein: float
    """In reference standard deviations."""
    n: int


@dataclass(frozen=True)
class DriftThresholds:
    """When a window counts as drifted: any statistic past its bound. PSI 0.2 is the usual "significant
    shift"; the p-values are corrected for the number of features checked."""

    psi: float = 0.2
    p_value: float = 0.001
    js: float = 0.2
    """Jensen–Shannon distance (base 2) of the binned shares; a window of 250 clean values reaches ~0.13."""
    wasserstein: float = 0.25

    def drifted(self, d: Drift, features: int = 1) -> list[str]:
        p = self.p_value / max(features, 1)
        hits = [("psi", d.psi > self.psi), ("ks", d.ks_p < p), ("chi2", d.chi2_p < p),
                ("js", d.js > self.js), ("wasserstein", d.wasserstein > self.wasserstein)]  # fmt: skip
        return [name for name, hit in hits if hit]


def _ks_and_area(x: Any, ref: Any) -> tuple[float, float]:
    """The Kolmogorov–Smirnov distance of two sorted samples and the area between their empirical CDFs
    (Wasserstein-1). One stable merge of the two runs and a running sum of the steps (``+1/n`` for a
    live value, ``-1/m`` for a reference one) give the CDFs' difference at every value, without a
    binary search per value; inside a run of equal values the sum is mid-step, and those points have
    zero width, so only the ends of runs count for the distance."""
    import numpy as np

    both = np.concatenate([x, ref])
    order = both.argsort(kind="stable")
    steps = np.concatenate([np.full(len(x), 1.0 / len(x)), np.full(len(ref), -1.0 / len(ref))])[order]
    both = both[order]
    gap = np.abs(np.cumsum(steps)[:-1])
    widths = np.diff(both)
    return float(gap[widths > 0].max(initial=0.0)), float(gap @ widths)


def drift(profile: FeatureProfile, window: Any) -> Drift:
    """Compare one window of live values with the feature's reference.

    Computed with numpy and scipy.special directly (a window's check costs well under a millisecond; the
    scipy.stats wrappers cost ten times more, which a serving loop would feel)."""
    import numpy as np
    from scipy.special import chdtrc, kolmogorov

    x = np.asarray(window, dtype=np.float64)
    x = np.sort(x[np.isfinite(x)])
    if len(x) == 0:
        raise DefenseError(f"window of {profile.name!r} holds no finite values")
    edges, sample = profile.arrays  # the sample is stored sorted
    n = len(x)
    counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(profile.shares)).tolist()
    # A dozen bins: plain floats cost less than a numpy call each.
    r = [max(v, EPS) for v in profile.shares]
    q = [max(c / n, EPS) for c in counts]
    psi = math.fsum((b - a) * math.log(b / a) for a, b in zip(r, q, strict=True))
    r_total, q_total = math.fsum(r), math.fsum(q)
    r = [v / r_total for v in r]
    q = [v / q_total for v in q]
    expected = [v * (n + 0.5 * len(r)) for v in r]
    chi2 = math.fsum((c + 0.5 - e) ** 2 / e for c, e in zip(counts, expected, strict=True))
    mid = [(a + b) / 2 for a, b in zip(r, q, strict=True)]
    js_r = math.fsum(a * math.log2(a / m) for a, m in zip(r, mid, strict=True))
    js_q = math.fsum(b * math.log2(b / m) for b, m in zip(q, mid, strict=True))
    js = math.sqrt(max(0.5 * js_r + 0.5 * js_q, 0.0))
    ks, area = _ks_and_area(x, sample)
    en = n * len(sample) / (n + len(sample))
    return Drift(
        feature=profile.name,
        psi=psi,
        ks=ks,
        ks_p=float(kolmogorov(math.sqrt(en) * ks)),
        chi2_p=float(chdtrc(len(r) - 1, chi2)),
        js=js,
        wasserstein=area / profile.std,
        n=n,
    )
