"""Only safe formats reach the detectors: TorchScript and ONNX models, pickle-free .npz samples."""

from __future__ import annotations

import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modelseal.behavior.loading import BehaviorError, load_model, load_samples  # noqa: E402
from modelseal.behavior.probe import penultimate  # noqa: E402


class _Marker:
    """Unpickling this would create the marker file: proof that something was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def test_torch_save_checkpoint_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    ckpt = tmp_path / "model.pt"
    with zipfile.ZipFile(ckpt, "w") as zf:
        zf.writestr("model/data.pkl", pickle.dumps(_Marker(str(marker))))
        zf.writestr("model/version", "3\n")
    with pytest.raises(BehaviorError, match="unpickled"):
        load_model(ckpt)
    assert not marker.exists()


def test_garbage_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x00\xff" * 64)
    with pytest.raises(BehaviorError):
        load_model(bad)


def test_object_arrays_in_samples_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    np.savez(path, x=np.array([object(), object()], dtype=object), y=np.array([0, 1]))
    with pytest.raises(BehaviorError):
        load_samples(path)


def test_samples_need_x_and_y(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    np.savez(path, inputs=np.zeros((3, 4), np.float32))
    with pytest.raises(BehaviorError, match="'x'"):
        load_samples(path)
    np.savez(path, x=np.full((3, 4), np.nan, np.float32), y=np.zeros(3, np.int64))
    with pytest.raises(BehaviorError, match="NaN"):
        load_samples(path)


def test_torchscript_penultimate_layer_matches_the_model(tmp_path: Path) -> None:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(72, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3),
    ).eval()  # fmt: skip
    path = tmp_path / "m.pt"
    torch.jit.script(net).save(str(path))
    loaded = load_model(path)
    assert loaded.kind == "torchscript"
    x = torch.rand(4, 1, 8, 8)
    feats = penultimate(loaded.module, x)(x)
    assert torch.allclose(feats, net[:5](x), atol=1e-6)


def test_onnx_model_is_converted_and_runs(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnx2torch")
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)
    )
    path = tmp_path / "m.onnx"
    x = torch.rand(3, 1, 8, 8)
    torch.onnx.export(
        net.eval(), (x,), str(path), dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}}
    )
    loaded = load_model(path)
    assert loaded.kind == "onnx"
    assert torch.allclose(loaded.module(x), net(x), atol=1e-5)
    assert torch.allclose(penultimate(loaded.module, x)(x), net[:3](x), atol=1e-5)


def test_the_cli_does_not_import_torch_at_start_up() -> None:
    code = "import sys, modelseal.cli.app; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_compressed_samples_are_bounded_by_their_expanded_size(tmp_path: Path) -> None:
    from modelseal.core.errors import LimitExceeded

    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x=np.zeros((4096, 256), np.float32), y=np.zeros(4096, np.int64))
    assert path.stat().st_size < 100_000
    with pytest.raises(LimitExceeded):
        load_samples(path, max_bytes=1 << 20)


def test_a_zip_past_the_member_limit_is_refused_before_zipfile_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """zipfile would read the whole directory and make an object per entry first."""
    from tests.scanners.craft import many_member_zip

    path = tmp_path / "model.pt"
    path.write_bytes(many_member_zip(100_001))

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("zipfile was asked to read a directory past the member limit")

    monkeypatch.setattr(zipfile.ZipFile, "__init__", refused)
    with pytest.raises(BehaviorError, match="more than 100000 members; nothing was loaded"):
        load_model(path)
