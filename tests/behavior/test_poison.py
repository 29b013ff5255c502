"""Data-level inspection lists the poisoned training samples and leaves a clean training set alone."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from conftest import TARGET, ImageCase
from modelseal.behavior.loading import load_model, load_samples
from modelseal.behavior.poison import find_poison
from modelseal.cli.app import app


def test_poisoned_samples_are_found(backdoored_image: ImageCase) -> None:
    train = load_samples(backdoored_image.train)
    report = find_poison(load_model(backdoored_image.model).module, train)
    assert report.suspected
    assert [c.label for c in report.classes if c.suspected] == [TARGET]
    picked = np.zeros(len(train.y), bool)
    picked[report.indices] = True
    truth = backdoored_image.flags
    precision = (picked & truth).sum() / picked.sum()
    recall = (picked & truth).sum() / truth.sum()
    assert precision > 0.7 and recall > 0.7, (precision, recall)
    assert np.all(np.diff(report.scores) <= 0)


def test_clean_training_set_is_not_flagged(clean_image: ImageCase) -> None:
    report = find_poison(load_model(clean_image.model).module, load_samples(clean_image.train))
    assert not report.suspected
    assert len(report.indices) == 0


def test_cli_lists_indices(backdoored_image: ImageCase) -> None:
    result = CliRunner().invoke(
        app,
        [
            "inspect-data",
            str(backdoored_image.model),
            "--data",
            str(backdoored_image.train),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 1, result.output
    assert '"index"' in result.output and "MS-BEHAVIOR-POISONED-DATA" in result.output
