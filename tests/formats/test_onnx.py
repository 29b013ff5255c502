"""ONNX: a model exported from torch passes; custom domains, escaping external data and size lies do not."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.formats.helpers import assert_benign, assert_flagged, findings

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def export(path: Path) -> Path:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    torch.onnx.export(model, (torch.randn(1, 4),), str(path), dynamo=False)
    return path


def test_torch_export_passes(tmp_path: Path) -> None:
    export(tmp_path / "model.onnx")
    assert_benign(tmp_path)


def test_external_data_inside_the_folder_passes(tmp_path: Path) -> None:
    model = onnx.load(str(export(tmp_path / "src.onnx")))
    (tmp_path / "src.onnx").unlink()
    onnx.save_model(
        model,
        str(tmp_path / "model.onnx"),
        save_as_external_data=True,
        location="weights.data",
        size_threshold=0,
    )
    # The data file itself is raw bytes (unknown to per-file sniffing); the model and its references pass.
    assert_benign(tmp_path / "model.onnx")


def _graph_model(nodes: list[Any], initializers: list[Any], domains: tuple[str, ...] = ()) -> Any:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializers,
    )
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(graph, opset_imports=opsets)


def _external(location: str, length: int = 8) -> TensorProto:
    t = numpy_helper.from_array(np.zeros(2, dtype=np.float32), "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


def _save(model: Any, path: Path) -> None:
    path.write_bytes(model.SerializeToString())


@pytest.mark.parametrize("domain", ["evil.ops", "ai.onnx.contrib"])
def test_custom_domain_is_high(tmp_path: Path, domain: str) -> None:
    node = helper.make_node("Backdoor", ["x"], ["y"], domain=domain, name="payload_node")
    _save(_graph_model([node], [], (domain,)), tmp_path / "model.onnx")
    hits = assert_flagged(tmp_path, "MS-ONNX-CUSTOM-DOMAIN")
    assert "payload_node" in hits[0].evidence


def test_runtime_contrib_domain_is_low(tmp_path: Path) -> None:
    node = helper.make_node("FastGelu", ["x"], ["y"], domain="com.microsoft")
    _save(_graph_model([node], [], ("com.microsoft",)), tmp_path / "model.onnx")
    assert_benign(tmp_path)


@pytest.mark.parametrize("location", ["/etc/passwd", "../outside.bin", "sub/../../outside.bin"])
def test_external_data_escaping_the_folder(tmp_path: Path, location: str) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    node = helper.make_node("Add", ["x", "w"], ["y"])
    _save(_graph_model([node], [_external(location)]), model_dir / "model.onnx")
    hits = assert_flagged(model_dir, "MS-ONNX-EXTERNAL-DATA")
    assert hits[0].location.tensor == "w"


def test_external_data_through_a_link_leaving_the_folder(tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 8)
    os.symlink(secret, model_dir / "weights.bin")
    node = helper.make_node("Add", ["x", "w"], ["y"])
    _save(_graph_model([node], [_external("weights.bin")]), model_dir / "model.onnx")
    found = findings(model_dir / "model.onnx")
    assert any(f.rule_id == "MS-ONNX-EXTERNAL-DATA" and "link" in f.message for f in found), found


def test_external_length_beyond_the_file(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0" * 4)
    node = helper.make_node("Add", ["x", "w"], ["y"])
    _save(_graph_model([node], [_external("weights.bin")]), tmp_path / "model.onnx")
    assert_flagged(tmp_path / "model.onnx", "MS-ONNX-MALFORMED")


def test_raw_data_disagreeing_with_shape(tmp_path: Path) -> None:
    t = numpy_helper.from_array(np.zeros(2, dtype=np.float32), "w")
    t.raw_data = b"\0" * 12
    _save(_graph_model([helper.make_node("Add", ["x", "w"], ["y"])], [t]), tmp_path / "model.onnx")
    assert_flagged(tmp_path, "MS-ONNX-MALFORMED")


def test_damaged_protobuf(tmp_path: Path) -> None:
    data = export(tmp_path / "model.onnx").read_bytes()
    (tmp_path / "model.onnx").write_bytes(data[: len(data) // 2] + b"\xff" * 64)
    assert_flagged(tmp_path, "MS-ONNX-MALFORMED")
