"""Drift statistics, change-point detectors and the Monitor on synthetic streams with a known shift."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from modelseal.defense.errors import DefenseError
from modelseal.defense.monitor import Monitor, ReferenceProfile
from modelseal.defense.monitor.changepoint import Adwin, PageHinkley
from modelseal.defense.monitor.stats import DriftThresholds, drift


def _profile(seed: int = 0) -> ReferenceProfile:
    rng = np.random.default_rng(seed)
    return ReferenceProfile.fit({"x": rng.normal(size=5000), "confidence": rng.beta(8, 2, size=5000)})


def test_statistics_quiet_on_same_distribution_loud_on_shift() -> None:
    prof = _profile().feature("x")
    rng = np.random.default_rng(1)
    same = drift(prof, rng.normal(size=500))
    moved = drift(prof, rng.normal(0.7, 1.0, size=500))
    assert DriftThresholds().drifted(same) == []
    assert set(DriftThresholds().drifted(moved)) >= {"psi", "ks", "chi2", "wasserstein"}
    assert moved.psi > 5 * same.psi and moved.js > same.js
    assert 0.55 < moved.wasserstein < 0.85  # in reference standard deviations


def test_profile_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    prof = _profile()
    path = tmp_path / "profile.json"  # type: ignore[operator]
    prof.save(path)
    assert ReferenceProfile.load(path) == prof
    path.write_text("[{}]")
    with pytest.raises(DefenseError, match="not a reference profile"):
        ReferenceProfile.load(path)
    with pytest.raises(DefenseError, match="at least 50"):
        ReferenceProfile.fit({"x": [1.0, 2.0]})


def _alarms(det: object, x: np.ndarray) -> list[int]:
    return [i for i, v in enumerate(x) if det.update(float(v))]  # type: ignore[attr-defined]


@pytest.mark.parametrize("make", [lambda: PageHinkley(mean=0.0, scale=1.0), PageHinkley, Adwin])
def test_detectors_find_shift_without_false_alarms(make: object) -> None:
    rng = np.random.default_rng(3)
    assert _alarms(make(), rng.normal(size=20_000)) == []  # type: ignore[operator]
    x = np.concatenate([rng.normal(size=2000), rng.normal(0.6, 1.0, size=2000)])
    found = _alarms(make(), x)  # type: ignore[operator]
    assert found and 2000 <= found[0] < 2300


def test_monitor_alerts_and_metrics() -> None:
    pytest.importorskip("prometheus_client")
    seen = []
    mon = Monitor(_profile(), window=250, metrics=True, on_alert=seen.append)
    rng = np.random.default_rng(5)
    for i in range(1500):
        shift = 1.0 if i >= 1000 else 0.0
        mon.observe({"x": rng.normal(shift), "confidence": rng.beta(8, 2) - 0.3 * shift, "other": 1.0})
    kinds = {(a.kind, a.feature) for a in seen}
    assert ("drift", "x") in kinds and ("change-point", "confidence") in kinds
    assert min(a.at for a in seen) >= 1000  # nothing before the shift
    text = mon.metrics_text().decode()
    assert 'modelseal_drift_psi{feature="x"}' in text
    assert 'modelseal_alerts_total{feature="x",kind="drift"}' in text


def test_monitor_accuracy_decay() -> None:
    mon = Monitor(_profile())
    rng = np.random.default_rng(2)
    alerts = [
        a for i in range(4000) for a in mon.observe_label(bool(rng.random() < (0.95 if i < 2000 else 0.7)))
    ]
    assert alerts and alerts[0].kind == "accuracy" and alerts[0].at >= 2000
