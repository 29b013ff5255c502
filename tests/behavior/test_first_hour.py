"""``inspect`` as a new user meets it (issue 17, item 9): the format is read from content and a pickle is
refused at once, a clean model gets no trigger images, ``inspect-data`` lists only samples that stand out,
and long runs report progress."""

from __future__ import annotations

import gzip
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ImageCase
from modelseal.behavior.loading import load_model, load_samples
from modelseal.behavior.poison import find_poison
from modelseal.behavior.trigger import invert_triggers
from modelseal.cli.app import app


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("model.pkl", pickle.dumps({"w": [1.0]}, protocol=4), "a pickle"),
        ("model.joblib.gz", gzip.compress(pickle.dumps({"w": [1.0]}, protocol=4)), "a pickle"),
        ("weights.bin", b"\x00\x01 not a model at all" * 10, "neither TorchScript nor ONNX"),
    ],
    ids=["pickle", "joblib-gzip", "unknown"],
)
def test_a_model_that_is_not_torchscript_or_onnx_is_refused_before_torch_is_imported(
    tmp_path: Path, clean_samples: Path, name: str, content: bytes, says: str
) -> None:
    model = tmp_path / name
    model.write_bytes(content)
    result = CliRunner().invoke(app, ["inspect", str(model), "--data", str(clean_samples)])
    assert result.exit_code == 2
    assert says in result.output and "onnx2torch" not in result.output
    code = (
        "import sys; from modelseal.cli.app import run; "
        f"code = run(['inspect', {str(model)!r}, '--data', {str(clean_samples)!r}]); "
        "print(code, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stderr


def test_no_trigger_images_for_a_model_called_clean(
    clean_image: ImageCase, clean_samples: Path, tmp_path: Path
) -> None:
    out = tmp_path / "trigger"
    result = CliRunner().invoke(
        app, ["inspect", str(clean_image.model), "--data", str(clean_samples), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert not out.exists() or list(out.iterdir()) == []
    assert "wrote" not in result.output


def test_listed_poison_stands_out_from_its_class(backdoored_image: ImageCase) -> None:
    from modelseal.behavior.poison import SCORE_THRESHOLD

    train = load_samples(backdoored_image.train)
    report = find_poison(load_model(backdoored_image.model).module, train)
    assert len(report.indices) > 0 and SCORE_THRESHOLD >= 2.0
    assert float(np.min(report.scores)) > SCORE_THRESHOLD
    assert backdoored_image.flags[report.indices].all()  # nothing listed is clean


def test_long_runs_report_progress(backdoored_image: ImageCase, clean_samples: Path) -> None:
    seen: list[tuple[int, int]] = []
    invert_triggers(
        load_model(backdoored_image.model).module,
        load_samples(clean_samples),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen and seen[0][0] == 0 and len({total for _, total in seen}) == 1
    assert [done for done, _ in seen] == sorted(done for done, _ in seen) and seen[-1][0] == seen[-1][1] - 1
