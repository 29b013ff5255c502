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
