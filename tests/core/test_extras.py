"""Every command that needs an optional library says which extra brings it, in one line, with exit 2
(issue 17, item 1), instead of ending in a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelseal.cli.app import run


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    (tmp_path / "m" / "model.onnx").write_bytes(b"\x08\x07\x12\x04test")  # starts like an ONNX model
    return "m"


@pytest.mark.parametrize(
    ("missing", "args", "extra"),
    [
        ("cyclonedx", ["bom", "m"], "bom"),
        ("spdx_python_model", ["bom", "m", "--format", "spdx"], "bom"),
        ("huggingface_hub", ["scan", "hf://org/name"], "hf"),
        ("torch", ["inspect", "m/model.onnx", "--data", "x.npz"], "behavior"),
        ("cryptography", ["sign", "m", "--private-key", "k.pem", "--signature", "s.sig"], "signing"),
        ("cryptography", ["verify", "m", "--public-key", "k.pub", "--signature", "s.sig"], "signing"),
    ],
)
def test_a_missing_extra_is_one_line_and_exit_2(
    model: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    missing: str,
    args: list[str],
    extra: str,
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # what `import` sees when the package is absent
    assert run(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"pip install 'modelseal[{extra}]'" in " ".join(err.split())
    if args[0] not in ("sign", "verify"):  # those two print through their own error path (wrapping: H4)
        assert len(err.strip().splitlines()) == 1, err


def test_require_names_every_missing_module_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelseal.core.errors import MissingExtra
    from modelseal.core.extras import require

    monkeypatch.setitem(sys.modules, "onnx2torch", None)
    require("behavior", "json")  # present: nothing raised
    with pytest.raises(MissingExtra) as caught:
        require("behavior", "json", "onnx2torch", "no_such_module_xyz", feature="ONNX models")
    assert caught.value.modules == ("onnx2torch", "no_such_module_xyz")
    assert str(caught.value) == (
        "ONNX models: the 'behavior' extra is not installed (no onnx2torch, no_such_module_xyz): "
        "pip install 'modelseal[behavior]'"
    )
