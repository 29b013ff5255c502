"""STRIP at serving time: calibrated false alarms on clean inputs, stamped inputs caught."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TARGET, ImageCase, stamp
from modelseal.behavior.loading import BehaviorError, load_model
from modelseal.behavior.strip import StripDetector


def test_triggered_inputs_are_caught_at_the_chosen_false_alarm_rate(
    backdoored_image: ImageCase, digits: tuple[np.ndarray, ...]
) -> None:
    module = load_model(backdoored_image.model).module
    x, y = digits[2], digits[3]
    detector = StripDetector.calibrate(module, x[:250], false_alarm=0.05)
    held = x[250:][y[250:] != TARGET]
    clean_alarms = np.mean([r.trojaned for r in detector.check_batch(held)])
    caught = np.mean([r.trojaned for r in detector.check_batch(stamp(held))])
    assert clean_alarms < 0.15
    assert caught > 0.8
    single = detector.check(stamp(held[0]))
    assert single.threshold == detector.threshold
    assert single.entropy == pytest.approx(detector.entropies(stamp(held[:1]))[0])


def test_calibration_needs_enough_clean_inputs(
    backdoored_image: ImageCase, digits: tuple[np.ndarray, ...]
) -> None:
    module = load_model(backdoored_image.model).module
    with pytest.raises(BehaviorError):
        StripDetector.calibrate(module, digits[2][:5])
    with pytest.raises(BehaviorError):
        StripDetector.calibrate(module, digits[2][:100], false_alarm=0.0)
