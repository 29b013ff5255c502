"""A tensor made entirely of NaN is found by a default scan whenever the scan reads every byte anyway (the
target is hashed), without asking for weight statistics; partly infinite tensors (masks) are left to
``--weights``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.core.findings import Severity

torch = pytest.importorskip("torch")
st = pytest.importorskip("safetensors.torch")


def _repo(root: Path, decoder_nan: bool) -> Path:
    torch.manual_seed(0)
    tensors = {f"model.layers.{i}.mlp.weight": torch.randn(8, 8) for i in range(4)}
    tensors["model.embed_tokens.weight"] = torch.randn(16, 8)
    mask = torch.zeros(4, 4)
    mask[0, 1:] = float("-inf")
    tensors["model.causal_mask"] = mask  # partly infinite, as masks are
    if decoder_nan:
        tensors["model.layers.2.mlp.weight"] = torch.full((8, 8), float("nan"))
    root.mkdir()
    st.save_file(tensors, root / "model.safetensors")
    (root / "config.json").write_text(
        json.dumps({"model_type": "llama", "num_hidden_layers": 4, "hidden_size": 8, "vocab_size": 16})
    )
    return root


@pytest.mark.parametrize("digests", [None, True])
def test_nan_layer_found_when_every_byte_is_read(tmp_path: Path, digests: bool | None) -> None:
    found = scan(_repo(tmp_path / "m", True), digests=digests).findings
    hits = [f for f in found if f.rule_id == "MS-WEIGHTS-NONFINITE"]
    assert [h.location.tensor for h in hits] == ["model.layers.2.mlp.weight"]
    assert hits[0].severity == Severity.HIGH


def test_clean_repo_and_partial_mask_pass_at_defaults(tmp_path: Path) -> None:
    found = scan(_repo(tmp_path / "m", False), digests=None).findings
    assert not [f for f in found if f.severity >= Severity.MEDIUM], found


def test_not_read_when_not_hashed(tmp_path: Path) -> None:
    """``digests=False`` (large targets) reads headers only: the weights are not read for this check."""
    found = scan(_repo(tmp_path / "m", True), digests=False).findings
    assert not [f for f in found if f.rule_id == "MS-WEIGHTS-NONFINITE"]


def test_statistics_still_report_partial_non_finite(tmp_path: Path) -> None:
    found = scan(_repo(tmp_path / "m", False), digests=False, weight_statistics=True).findings
    assert any(f.rule_id == "MS-WEIGHTS-NONFINITE" and f.severity == Severity.MEDIUM for f in found)


def _save_npy(path: Path, array: object) -> Path:
    import numpy as np

    np.save(path, array)
    return path


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_default_check_reads_every_float_type_and_order(tmp_path: Path, dtype: str) -> None:
    """The default check decodes a tensor's first value itself (no numpy): every float type safetensors,
    torch and ``.npy`` store, either byte order, and a tensor that starts non-finite but is not entirely
    so (left to ``--weights``)."""
    import numpy as np

    folder = tmp_path / dtype
    folder.mkdir()
    kind = getattr(torch, dtype)
    nan = torch.full((3, 5), float("nan"), dtype=kind)
    starts_nan = torch.zeros(3, 5, dtype=kind)
    starts_nan[0, 0] = float("inf")
    st.save_file({"all_nan": nan, "starts_inf": starts_nan, "fine": torch.ones(2, dtype=kind)},
                 folder / "w.safetensors")  # fmt: skip
    torch.save({"all_nan": nan, "starts_inf": starts_nan}, folder / "w.pt")
    if dtype != "bfloat16":
        _save_npy(folder / "little.npy", np.full(4, np.inf, dtype=f"<{np.dtype(dtype).str[1:]}"))
        _save_npy(folder / "big.npy", np.full(4, -np.inf, dtype=f">{np.dtype(dtype).str[1:]}"))
        _save_npy(folder / "big_fine.npy", np.array([1.0, np.inf], dtype=f">{np.dtype(dtype).str[1:]}"))
    found = [f for f in scan(folder, digests=True).findings if f.rule_id == "MS-WEIGHTS-NONFINITE"]
    where = sorted((f.file, f.location.tensor) for f in found)
    expected = [("w.pt", "storage 0"), ("w.safetensors", "all_nan")]
    if dtype != "bfloat16":
        expected += [("big.npy", "array"), ("little.npy", "array")]
    assert where == sorted(expected)
    assert all(f.severity == Severity.HIGH for f in found)


def test_healthy_weights_are_checked_without_numpy(tmp_path: Path) -> None:
    """A default scan of healthy weights reads one value per tensor and never imports numpy (~70 ms of a
    small folder's scan); a tensor that starts non-finite is read whole, with numpy."""
    import subprocess
    import sys

    _repo(tmp_path / "m", False)
    torch.save({"w": torch.ones(4)}, tmp_path / "m" / "extra.pt")
    _save_npy(tmp_path / "m" / "x.npy", torch.ones(4).numpy())
    code = (
        "import sys; from modelseal.api import scan; r = scan(sys.argv[1], digests=True);"
        "print(sorted({f.rule_id for f in r.findings}), 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("False"), out.stdout
    _repo(tmp_path / "bad", True)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "bad")], capture_output=True, text=True)
    assert "MS-WEIGHTS-NONFINITE" in out.stdout and out.stdout.strip().endswith("True"), out.stdout
