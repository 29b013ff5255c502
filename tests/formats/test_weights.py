"""Weight statistics (streamed from safetensors, PyTorch zip and NumPy) and architecture verification."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from modelseal.api import scan
from modelseal.core.findings import Severity
from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource, FileRaw
from modelseal.scanners import weights
from modelseal.scanners.interface import ScanContext, ScanInput
from modelseal.scanners.registry import dispatch
from modelseal.scanners.torchstorages import storage_dtypes
from modelseal.scanners.zip import ZipScanner
from tests.formats.helpers import assert_benign, assert_flagged, findings


def _inf_checkpoint(path: Path) -> Path:
    """A torch.save checkpoint whose second storage (``storage 1``, float16) is all infinite."""
    torch.save({"a": torch.randn(4, 4), "b": torch.full((4, 4), float("inf"), dtype=torch.float16)}, path)
    return path


def _tamper(repo: Path, name: str, value: torch.Tensor) -> None:
    tensors = load_file(repo / "model.safetensors")
    tensors[name] = value
    save_file(tensors, repo / "model.safetensors", metadata={"format": "pt"})


def test_random_checkpoints_pass(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = {f"layers.{i}.weight": torch.randn(16, 16) * 0.02 for i in range(6)}
    torch.save(state, tmp_path / "pytorch_model.bin")
    np.save(tmp_path / "embedding.npy", np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32))
    save_file({k: v.to(torch.bfloat16) for k, v in state.items()}, tmp_path / "model.safetensors")
    assert_benign(tmp_path)


def test_nan_filled_layer_is_high(repo: Path) -> None:
    name = "model.layers.2.mlp.up_proj.weight"
    shape = load_file(repo / "model.safetensors")[name].shape
    _tamper(repo, name, torch.full(shape, float("nan")))
    hits = assert_flagged(repo, "MS-WEIGHTS-NONFINITE")
    assert hits[0].location.tensor == name


def test_some_nans_are_medium(repo: Path) -> None:
    name = "model.layers.1.mlp.up_proj.weight"
    t = load_file(repo / "model.safetensors")[name].clone()
    t[0, 0] = float("inf")
    _tamper(repo, name, t)
    hits = [f for f in findings(repo) if f.rule_id == "MS-WEIGHTS-NONFINITE"]
    assert [h.severity for h in hits] == [Severity.MEDIUM]


def test_statistical_anomalies_are_medium_at_most(repo: Path) -> None:
    tensors = load_file(repo / "model.safetensors")
    outlier = tensors["model.layers.0.self_attn.q_proj.weight"].clone()
    outlier[0, 0] = 5000.0
    _tamper(repo, "model.layers.0.self_attn.q_proj.weight", outlier)
    _tamper(repo, "model.layers.3.mlp.down_proj.weight", tensors["model.layers.3.mlp.down_proj.weight"] * 500)
    found = findings(repo)
    rules = {f.rule_id for f in found}
    assert {"MS-WEIGHTS-OUTLIER", "MS-WEIGHTS-LAYER-ANOMALY"} <= rules, found
    assert all(f.severity <= Severity.MEDIUM for f in found if f.rule_id in rules - {"MS-WEIGHTS-NONFINITE"})
    anomaly = next(f for f in found if f.rule_id == "MS-WEIGHTS-LAYER-ANOMALY")
    assert anomaly.location.tensor == "model.layers.3.mlp.down_proj.weight"


def test_inf_storage_in_pytorch_zip_is_high(tmp_path: Path) -> None:
    _inf_checkpoint(tmp_path / "pytorch_model.bin")
    hits = assert_flagged(tmp_path, "MS-WEIGHTS-NONFINITE")
    assert hits[0].location.tensor == "storage 1"


def test_nan_npy_is_high(tmp_path: Path) -> None:
    np.save(tmp_path / "w.npy", np.full((16, 4), np.nan, dtype=np.float64))
    assert_flagged(tmp_path, "MS-WEIGHTS-NONFINITE")


def test_layer_count_disagrees_with_config(repo: Path) -> None:
    config = json.loads((repo / "config.json").read_text())
    config["num_hidden_layers"] = 6
    (repo / "config.json").write_text(json.dumps(config))
    hits = assert_flagged(repo, "MS-WEIGHTS-ARCH-MISMATCH")
    assert "6 layers" in hits[0].message


def test_missing_layer_is_caught(repo: Path) -> None:
    tensors = load_file(repo / "model.safetensors")
    kept = {k: v for k, v in tensors.items() if ".layers.1." not in k}
    save_file(kept, repo / "model.safetensors", metadata={"format": "pt"})
    assert_flagged(repo, "MS-WEIGHTS-ARCH-MISMATCH")


def test_embedding_shape_disagrees_with_config(repo: Path) -> None:
    _tamper(repo, "model.embed_tokens.weight", torch.randn(96, 48))
    hits = assert_flagged(repo, "MS-WEIGHTS-ARCH-MISMATCH")
    assert hits[0].location.tensor == "model.embed_tokens.weight"


def test_shard_index_names_missing_shard(repo: Path) -> None:
    tensors = load_file(repo / "model.safetensors")
    index = {"metadata": {}, "weight_map": {k: "model-00001-of-00002.safetensors" for k in tensors}}
    (repo / "model.safetensors").rename(repo / "model-00001-of-00002.safetensors")
    index["weight_map"]["lm_head.weight"] = "model-00002-of-00002.safetensors"
    (repo / "model.safetensors.index.json").write_text(json.dumps(index))
    hits = assert_flagged(repo, "MS-WEIGHTS-ARCH-MISMATCH")
    assert any("model-00002-of-00002" in h.message for h in hits)


def test_sharded_model_passes(repo: Path) -> None:
    tensors = load_file(repo / "model.safetensors")
    names = sorted(tensors)
    half = len(names) // 2
    shards = {
        "model-00001-of-00002.safetensors": names[:half],
        "model-00002-of-00002.safetensors": names[half:],
    }
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, repo / shard, metadata={"format": "pt"})
    (repo / "model.safetensors").unlink()
    weight_map = {k: shard for shard, keys in shards.items() for k in keys}
    (repo / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    assert_benign(repo)


def test_statistics_only_on_request_architecture_always(repo: Path) -> None:
    """The default scan reads headers, not weight bytes: NaNs need weight_statistics, shapes do not."""
    name = "model.layers.2.mlp.up_proj.weight"
    shape = load_file(repo / "model.safetensors")[name].shape
    _tamper(repo, name, torch.full(shape, float("nan")))
    config = json.loads((repo / "config.json").read_text())
    config["num_hidden_layers"] = 6
    (repo / "config.json").write_text(json.dumps(config))
    quick = {f.rule_id for f in findings(repo, weight_statistics=False)}
    deep = {f.rule_id for f in findings(repo)}
    assert "MS-WEIGHTS-ARCH-MISMATCH" in quick and "MS-WEIGHTS-NONFINITE" not in quick
    assert {"MS-WEIGHTS-ARCH-MISMATCH", "MS-WEIGHTS-NONFINITE"} <= deep


def test_storage_dtypes_of_a_checkpoint_as_torch_saves_it() -> None:
    """Every storage, whatever the tensor's dtype and wherever it sits (a Parameter, a view sharing a
    storage, a nested optimizer state, a tuple), is typed from the persistent ids the pickle's calls take."""
    base = torch.arange(12, dtype=torch.float32)
    state = {
        "half": torch.ones(2, dtype=torch.float16),
        "brain": torch.ones(3, dtype=torch.bfloat16),
        "param": torch.nn.Parameter(torch.ones(2, 2, dtype=torch.float64)),
        "whole": base,
        "view": base[2:5],
        "optimizer": {"state": {0: {"step": torch.tensor(3)}}, "pair": (torch.zeros(1, dtype=torch.int8),)},
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    data = zipfile.ZipFile(buf).read("archive/data.pkl")
    assert storage_dtypes(ByteSource.from_bytes(data)) == {
        "0": "HalfStorage",
        "1": "BFloat16Storage",
        "2": "DoubleStorage",
        "3": "FloatStorage",
        "4": "LongStorage",
        "5": "CharStorage",
    }


def test_the_zip_scan_types_storages_as_a_reading_of_their_own_does(tmp_path: Path) -> None:
    """When weights are checked, the zip scanner keeps the storage types of the pickle it reads anyway."""
    path = _inf_checkpoint(tmp_path / "model.pt")
    for checks, kept in ((False, False), (True, True)):
        ctx = ScanContext(Limits(), dispatch, nonfinite_check=checks)
        with path.open("rb") as fh:
            ZipScanner().scan(ScanInput(ByteSource(FileRaw(fh)), "model.pt", None, fileobj=fh), ctx)
        assert bool(ctx.budget.storage_types) == kept
    ((member, types),) = ctx.budget.storage_types.items()
    assert member.endswith("/data.pkl")
    assert types == storage_dtypes(ByteSource.from_bytes(zipfile.ZipFile(path).read(member)))
    assert types == {"0": "FloatStorage", "1": "HalfStorage"}


def test_the_default_scan_reads_a_checkpoint_pickle_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The weight checks take the storage types from the zip scan of the same process: the NaN/Inf check
    still finds the infinite storage without a second reading of the pickle."""
    _inf_checkpoint(tmp_path / "pytorch_model.bin")

    def second_reading(*args: object, **kwargs: object) -> dict[str, str]:
        raise AssertionError("the pickle was read again")

    monkeypatch.setattr(weights, "storage_dtypes", second_reading)
    found = scan(str(tmp_path), digests=True, jobs=1).findings
    hits = [f for f in found if f.rule_id == "MS-WEIGHTS-NONFINITE"]
    assert [(h.severity, h.location.tensor) for h in hits] == [(Severity.HIGH, "storage 1")]
