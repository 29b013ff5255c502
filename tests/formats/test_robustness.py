"""Hostile input never crashes a format scanner: damaged copies of valid files end in findings, never in a
scanner error or an exception."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from modelseal.api import scan
from tests.formats.test_gguf import write_gguf
from tests.formats.test_keras import keras_metadata
from tests.formats.test_savedmodel import BENIGN_OPS, saved_model


def _h5(path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": {"layers": []}}'
        f["kernel"] = np.zeros((4, 4), dtype=np.float32)


BUILDERS: dict[str, Callable[[Path], object]] = {
    "model.gguf": write_gguf,
    "saved_model.pb": lambda p: p.write_bytes(saved_model(BENIGN_OPS, [("r", "ReadFile")])),
    "keras_metadata.pb": lambda p: p.write_bytes(
        keras_metadata([{"class_name": "Sequential", "config": {}}])
    ),
    "model.safetensors": lambda p: save_file({"w": torch.randn(4, 4)}, p),
    "model.onnx": lambda p: torch.onnx.export(
        torch.nn.Linear(2, 2), (torch.randn(1, 2),), str(p), dynamo=False
    ),
    "model.h5": _h5,
}


def _mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    kind = rng.choice(["flip", "truncate", "repeat"])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(min(len(b), 512))] = rng.randrange(256)
        return bytes(b)
    if kind == "truncate":
        return bytes(b[: rng.randrange(8, len(b))])
    at = rng.randrange(len(b))
    return bytes(b[:at] + b[at : at + rng.randint(1, 64)] * 3 + b[at:])


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_damaged_files_never_break_a_scanner(tmp_path: Path, name: str) -> None:
    original = tmp_path / "original" / name
    original.parent.mkdir()
    BUILDERS[name](original)
    data = original.read_bytes()
    rng = random.Random(name)
    for i in range(25):
        case = tmp_path / f"case{i}"
        case.mkdir()
        (case / name).write_bytes(_mutate(data, rng))
        result = scan(str(case), digests=False)
        errors = [f.message for f in result.findings if f.rule_id == "MS-SCANNER-ERROR"]
        assert not errors, (i, errors)
