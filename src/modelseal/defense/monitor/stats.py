"""Drift statistics of a window of live values against a stored reference profile.

A :class:`ReferenceProfile` is computed once from clean reference data and stored as JSON: per feature,
quantile bin edges with the reference's share in each bin, its mean and spread, and a capped sample for
the two-sample tests. A window is then compared on five statistics: PSI and chi² (on the bins),
Jensen–Shannon distance (bins), Kolmogorov–Smirnov and Wasserstein (on the values, the latter in reference
standard deviations so one threshold fits every feature).
"""

from __future__ import annotations

import json
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
    def arrays(self) -> tuple[Any, Any, Any]:
        """``edges``, ``shares`` and ``sample`` as numpy arrays, built once: a window's check reads them,
        and converting the 2,000-value sample from a tuple each time cost as much as the statistics."""
        import numpy as np

        return np.asarray(self.edges), np.asarray(self.shares), np.asarray(self.sample)


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


def _cdf_gap(x: Any, ref: Any) -> tuple[Any, Any]:
    """Both empirical CDFs at every value of the merged sample, and the gaps between those values."""
    import numpy as np

    both = np.concatenate([x, ref])
    both.sort()
    fx = np.searchsorted(x, both[:-1], side="right") / len(x)
    fr = np.searchsorted(ref, both[:-1], side="right") / len(ref)
    return np.abs(fx - fr), np.diff(both)


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
    edges, ref, sample = profile.arrays  # the sample is stored sorted
    counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(ref))
    live = counts / len(x)
    r, q = np.clip(ref, EPS, None), np.clip(live, EPS, None)
    psi = float(np.sum((q - r) * np.log(q / r)))
    gap, widths = _cdf_gap(x, sample)
    ks = float(gap.max()) if len(gap) else 0.0
    en = len(x) * len(sample) / (len(x) + len(sample))
    expected = (r / r.sum()) * (len(x) + 0.5 * len(ref))
    chi2 = float(np.sum((counts + 0.5 - expected) ** 2 / expected))
    mid = (r / r.sum() + q / q.sum()) / 2
    js = float(np.sqrt(max(0.5 * np.sum(r / r.sum() * np.log2(r / r.sum() / mid))
                           + 0.5 * np.sum(q / q.sum() * np.log2(q / q.sum() / mid)), 0.0)))  # fmt: skip
    return Drift(
        feature=profile.name,
        psi=psi,
        ks=ks,
        ks_p=float(kolmogorov(np.sqrt(en) * ks)),
        chi2_p=float(chdtrc(len(ref) - 1, chi2)),
        js=js,
        wasserstein=float(np.sum(gap * widths)) / profile.std,
        n=len(x),
    )
