"""One folder mixing every format, scanned in one call: each file goes to the scanner its content calls for.
Also: heavy parsers stay unimported for a plain pickle, and a missing extra is a finding, not a pass."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from modelseal.api import scan
from modelseal.core.findings import Severity
from tests.formats.helpers import findings
from tests.formats.test_gguf import write_gguf
from tests.formats.test_savedmodel import BENIGN_OPS, saved_model

os.environ.setdefault("KERAS_BACKEND", "torch")


def build_mixed(root: Path) -> dict[str, str]:
    keras = pytest.importorskip("keras")
    torch.manual_seed(0)
    save_file({"w": torch.randn(8, 8)}, root / "model.safetensors")
    net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    torch.onnx.export(net, (torch.randn(1, 4),), str(root / "model.onnx"), dynamo=False)
    (root / "graph.bin").write_bytes((root / "model.onnx").read_bytes())  # a name that says nothing
    write_gguf(root / "model.gguf")
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    kmodel.save(root / "model.keras")
    kmodel.save(root / "model.h5")
    (root / "saved_model").mkdir()
    (root / "saved_model" / "saved_model.pb").write_bytes(saved_model(BENIGN_OPS))
    torch.save(net.state_dict(), root / "pytorch_model.bin")
    np.save(root / "bias.npy", np.zeros(4, dtype=np.float32))
    (root / "config.json").write_text('{"model_type": "custom", "hidden_size": 8}')
    return {
        "model.safetensors": "safetensors",
        "model.onnx": "onnx",
        "graph.bin": "onnx",
        "model.gguf": "gguf",
        "model.keras": "keras",
        "model.h5": "hdf5-keras",
        "saved_model/saved_model.pb": "tf-savedmodel",
        "pytorch_model.bin": "pytorch-zip",
        "bias.npy": "npy",
        "config.json": "text",
    }


def test_mixed_folder_in_one_call(tmp_path: Path) -> None:
    expected = build_mixed(tmp_path)
    result = scan(str(tmp_path), digests=False)
    (target,) = result.targets
    formats = {r.path: r.format for r in target.files}
    assert {p: formats.get(p) for p in expected} == expected
    loud = [(f.file, f.rule_id, f.message) for f in result.findings if f.severity > Severity.LOW]
    assert not loud


def test_mixed_folder_reports_each_problem_where_it_is(tmp_path: Path) -> None:
    build_mixed(tmp_path)
    write_gguf(tmp_path / "model.gguf", "{{ cycler.__init__.__globals__.os.popen('id') }}")
    (tmp_path / "saved_model" / "saved_model.pb").write_bytes(saved_model([("cb", "PyFunc")]))
    by_file = {(f.file, f.rule_id) for f in findings(tmp_path) if f.severity >= Severity.HIGH}
    assert by_file == {
        ("model.gguf", "MS-TEMPLATE-INJECTION"),
        ("saved_model/saved_model.pb", "MS-SAVEDMODEL-DANGEROUS-OP"),
    }


HEAVY = ("numpy", "onnx", "h5py", "jinja2", "keras", "torch", "tensorflow", "gguf", "safetensors")


def test_scanning_a_pickle_imports_no_heavy_parser(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    code = (
        "import sys; from modelseal.api import scan; scan(sys.argv[1]); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_missing_extra_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chat templates have no reader without jinja2. (ONNX and HDF5 no longer need an extra: see
    tests/formats/test_light_install.py.)"""
    write_gguf(tmp_path / "m.gguf")
    monkeypatch.setitem(sys.modules, "jinja2", None)  # importing it now raises ImportError
    hits = [f for f in findings(tmp_path) if f.rule_id == "MS-FORMAT-NOT-ANALYSED"]
    assert hits and "modelseal[templates]" in hits[0].message and hits[0].severity >= Severity.HIGH
