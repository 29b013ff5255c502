"""Model-level inspection finds the planted BadNets backdoor and its target, and passes the clean model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from conftest import TARGET, ImageCase
from modelseal.behavior.loading import load_model, load_samples
from modelseal.behavior.trigger import invert_triggers, robust_low_z
from modelseal.cli.app import app


def test_backdoor_is_found_with_its_target(backdoored_image: ImageCase, clean_samples: Path) -> None:
    report = invert_triggers(load_model(backdoored_image.model).module, load_samples(clean_samples))
    assert report.suspected
    assert report.target == TARGET
    trigger = report.classes[TARGET]
    assert trigger.attack_success > 0.8
    # The recovered mask sits on the planted 2x2 patch in the bottom-right corner.
    mask = report.masks[TARGET][0]
    assert mask[5:8, 5:8].sum() > 0.5 * mask.sum()


def test_clean_model_is_not_flagged(clean_image: ImageCase, clean_samples: Path) -> None:
    report = invert_triggers(load_model(clean_image.model).module, load_samples(clean_samples))
    assert not report.suspected
    assert report.target is None
    assert report.score < report.threshold


def test_cli_exit_codes_and_pngs(
    backdoored_image: ImageCase, clean_image: ImageCase, clean_samples: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["inspect", str(backdoored_image.model), "--data", str(clean_samples),
                              "--out", str(tmp_path)])  # fmt: skip
    assert bad.exit_code == 1, bad.output
    assert f"target class {TARGET}" in bad.output
    assert "MS-BEHAVIOR-BACKDOOR" in bad.output
    for name in (f"mask-class{TARGET}.png", f"trigger-class{TARGET}.png"):
        png = (tmp_path / name).read_bytes()
        assert png.startswith(b"\x89PNG")
    good = runner.invoke(
        app, ["inspect", str(clean_image.model), "--data", str(clean_samples), "--format", "json"]
    )
    assert good.exit_code == 0, good.output
    assert '"suspected": false' in good.output


def test_cli_refuses_a_pickle_checkpoint(clean_samples: Path, tmp_path: Path) -> None:
    import torch

    ckpt = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, str(ckpt))
    result = CliRunner().invoke(app, ["inspect", str(ckpt), "--data", str(clean_samples)])
    assert result.exit_code == 2


def test_robust_z_ignores_the_spread_of_one_outlier() -> None:
    values = np.log(np.array([0.1, 0.11, 0.09, 0.12, 0.1, 0.01]))
    z = robust_low_z(values, floor=0.25)
    assert int(np.argmax(z)) == 5
    assert z[5] > 5 and z[:5].max() < 1
