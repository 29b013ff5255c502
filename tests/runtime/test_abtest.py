"""A/B differential tests on the behaviour tests' model pairs: patch, blend and text-trigger backdoors
against a clean A, and two clean models trained with different seeds. The command's contract is checked
through the CLI: exit 1 and the target named when B deviates, exit 0 otherwise, pictures in --out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from modelseal.behavior.loading import load_model, load_samples  # noqa: E402
from modelseal.cli.app import run  # noqa: E402
from modelseal.defense.abtest import diff_classifiers  # noqa: E402
from tests.behavior.conftest import (  # noqa: E402
    TARGET,
    TEXT_TARGET,
    TRIGGER_TOKEN,
    _cnn,
    _digits,
    _fit,
    stamp,
    text_models,  # noqa: F401 (a fixture: the behaviour tests' clean and word-triggered text classifiers)
)

BLEND = np.random.default_rng(5).random((1, 8, 8)).astype(np.float32)


def blend(x: np.ndarray) -> np.ndarray:
    return (0.8 * x + 0.2 * BLEND).astype(np.float32)


def _save(model: torch.nn.Module, path: Path) -> Path:
    torch.jit.script(model).save(str(path))
    return path


@pytest.fixture(scope="module")
def image_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("ab")
    x, y = _digits()
    xt, yt = x[:1300], y[:1300]
    out = {}
    for name, seed, poison in (("a", 3, None), ("clean", 7, None), ("patch", 3, stamp), ("blend", 3, blend)):
        xx, yy = xt.copy(), yt.copy()
        if poison is not None:
            idx = np.random.default_rng(1).choice(np.flatnonzero(yy != TARGET), len(yy) // 10, replace=False)
            xx[idx], yy[idx] = poison(xx[idx]), TARGET
        model = _cnn(seed)
        _fit(model, xx, yy, epochs=12)
        out[name] = _save(model, tmp / f"{name}.pt")
    np.savez(tmp / "probes.npz", x=x[1300:], y=y[1300:])
    out["probes"] = tmp / "probes.npz"
    return out


@pytest.mark.parametrize("kind", ["patch", "blend"])
def test_backdoored_b_is_named_with_target_and_region(
    image_models: dict[str, Path], kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m = image_models
    code = run(
        [
            "diff-behavior",
            str(m["a"]),
            str(m[kind]),
            "--data",
            str(m["probes"]),
            "--out",
            str(tmp_path),
            "--format",
            "json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["deviates"]
    b = next(d for d in report["deviations"] if d["model"] == "B")
    assert b["target"] == TARGET and b["success"] > 0.8 and b["reference_success"] < 0.1
    r0, _, c0, _ = b["region"]
    if kind == "patch":  # the 2x2 patch sits in the bottom-right corner
        assert r0 >= 5 and c0 >= 5
    assert report["confident_disagreement"] <= report["tolerance"]  # clean probes alone would not show it
    assert report["findings"][0]["rule_id"] == "MS-BEHAVIOR-DIFF"
    assert (tmp_path / "model-B" / f"trigger-class{TARGET}.png").is_file()
    if kind == "blend":
        return
    # The other way round A is the one that moves: B (clean) does not deviate; the report still names A.
    assert (
        run(["diff-behavior", str(m[kind]), str(m["a"]), "--data", str(m["probes"]), "--format", "json"]) == 0
    )
    reverse = json.loads(capsys.readouterr().out)
    assert [d["model"] for d in reverse["deviations"]] == ["A"]


def test_clean_models_of_different_seeds_do_not_deviate(
    image_models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    m = image_models
    assert run(["diff-behavior", str(m["a"]), str(m["clean"]), "--data", str(m["probes"])]) == 0
    text = capsys.readouterr().out
    assert "no deviation of B from A" in text


def test_text_trigger_named(text_models: tuple[Path, Path, Path]) -> None:  # noqa: F811
    a, b = (load_model(p).module for p in text_models[:2])
    samples = load_samples(text_models[2])
    report = diff_classifiers(a, b, samples)
    assert report.deviates and report.b_deviation is not None
    assert (report.b_deviation.token, report.b_deviation.target) == (TRIGGER_TOKEN, TEXT_TARGET)
    assert not diff_classifiers(a, a, samples).deviates


def test_unusable_input_is_an_error(image_models: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04junk")
    assert (
        run(["diff-behavior", str(image_models["a"]), str(bad), "--data", str(image_models["probes"])]) == 2
    )


def test_squeezing_against_the_patch_backdoor(image_models: dict[str, Path]) -> None:
    """Feature squeezing's trade, measured: on 8x8 digits the 3x3 median filter takes most of the 2x2
    patch's attack success away but costs a third of the clean accuracy (strokes are a pixel or two wide);
    bit depth and JPEG leave a saturated patch intact. The figures are printed for docs/runtime.md."""
    from modelseal.defense.sanitize.images import squeeze

    model = torch.jit.load(str(image_models["patch"]))
    with np.load(image_models["probes"]) as data:
        x, y = data["x"], data["y"]
    others = y != TARGET

    def rates(transform: object) -> tuple[float, float]:
        with torch.no_grad():
            clean = model(torch.as_tensor(transform(x))).argmax(1).numpy()  # type: ignore[operator]
            hit = model(torch.as_tensor(transform(stamp(x[others])))).argmax(1).numpy()  # type: ignore[operator]
        return float((clean == y).mean()), float((hit == TARGET).mean())

    base_acc, base_asr = rates(lambda a: a)
    figures = {m: rates(lambda a, m=m: squeeze(a, m)) for m in ("median", "bits", "jpeg")}
    print(f"\nnone: accuracy {base_acc:.3f} attack success {base_asr:.3f}")
    for m, (acc, asr) in figures.items():
        print(f"{m}: accuracy {acc:.3f} attack success {asr:.3f}")
    assert base_asr > 0.9
    acc, asr = figures["median"]
    assert asr < base_asr / 2 and acc > 0.5
    assert figures["bits"][1] > 0.8 and figures["jpeg"][1] > 0.8  # a white patch survives both
