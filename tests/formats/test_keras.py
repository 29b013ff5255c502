"""Keras: models saved by keras 3 (torch backend) pass; Lambda layers, foreign modules, disabled safe_mode,
HDF5 external links and legacy SavedModel metadata with code are reported."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from modelseal.core.findings import Severity
from tests.formats.helpers import assert_benign, assert_flagged, pb

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")


def dense() -> Any:
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)]
    )


def with_lambda() -> Any:
    return keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)])


def test_dense_models_pass(tmp_path: Path) -> None:
    model = dense()
    model.save(tmp_path / "model.keras")
    model.save(tmp_path / "model.h5")
    assert_benign(tmp_path)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_is_critical(tmp_path: Path, suffix: str) -> None:
    with_lambda().save(tmp_path / f"model{suffix}")
    hits = assert_flagged(tmp_path, "MS-KERAS-LAMBDA")
    assert hits[0].severity == Severity.CRITICAL
    assert len(hits) == 1  # the layer and its serialised function are one finding


def rewrite_config(path: Path, edit: Any, member: str = "config.json") -> None:
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    doc = json.loads(members[member])
    edit(doc)
    members[member] = json.dumps(doc).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _layer(doc: dict[str, Any], index: int = 1) -> dict[str, Any]:
    return doc["config"]["layers"][index]  # type: ignore[no-any-return]


def test_function_from_os_is_critical(tmp_path: Path) -> None:
    dense().save(tmp_path / "model.keras")
    rewrite_config(
        tmp_path / "model.keras",
        lambda d: _layer(d)["config"].update(
            activation={"module": "os", "class_name": "function", "config": "system", "registered_name": None}
        ),
    )
    hits = assert_flagged(tmp_path, "MS-KERAS-CUSTOM-OBJECT")
    assert hits[0].severity == Severity.CRITICAL and "os.system" in hits[0].message


def test_custom_layer_from_outside_keras(tmp_path: Path) -> None:
    dense().save(tmp_path / "model.keras")
    rewrite_config(
        tmp_path / "model.keras",
        lambda d: _layer(d).update(
            module="evilpkg.layers", class_name="Backdoor", registered_name="evilpkg>Backdoor"
        ),
    )
    hits = assert_flagged(tmp_path, "MS-KERAS-CUSTOM-OBJECT")
    assert "evilpkg" in hits[0].message


def test_safe_mode_off(tmp_path: Path) -> None:
    dense().save(tmp_path / "model.keras")
    rewrite_config(tmp_path / "model.keras", lambda d: d.update(safe_mode=False), member="metadata.json")
    assert_flagged(tmp_path, "MS-KERAS-UNSAFE-CONFIG")


def test_h5_model_config_not_json(tmp_path: Path) -> None:
    dense().save(tmp_path / "model.h5")
    with h5py.File(tmp_path / "model.h5", "a") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": {'
    assert_flagged(tmp_path, "MS-KERAS-UNSAFE-CONFIG")


def test_h5_external_link(tmp_path: Path) -> None:
    dense().save(tmp_path / "model.h5")
    with h5py.File(tmp_path / "model.h5", "a") as f:
        f["model_weights/stolen"] = h5py.ExternalLink("/etc/secrets.h5", "/")
    hits = assert_flagged(tmp_path, "MS-HDF5-EXTERNAL")
    assert "/etc/secrets.h5" in hits[0].message


def test_h5_external_dataset_storage(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "weights.h5", "w") as f:
        f.create_dataset("kernel", shape=(4,), dtype="f4", external=[("/etc/hostname", 0, 16)])
    assert_flagged(tmp_path, "MS-HDF5-EXTERNAL")


def keras_metadata(objects: list[dict[str, Any]]) -> bytes:
    """SavedMetadata{nodes: SavedObject{node_id, node_path, identifier, metadata (JSON)}}."""
    return b"".join(
        pb(
            1,
            pb(2, i)
            + pb(3, "root" if i == 0 else f"root.layer-{i}")
            + pb(4, "_tf_keras_layer")
            + pb(5, json.dumps(o)),
        )
        for i, o in enumerate(objects)
    )


def test_legacy_savedmodel_metadata(tmp_path: Path) -> None:
    plain = {"class_name": "Sequential", "name": "sequential", "config": {"name": "sequential", "layers": []}}
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "keras_metadata.pb").write_bytes(keras_metadata([plain]))
    assert_benign(tmp_path / "ok")
    lam = {
        "class_name": "Lambda",
        "name": "lambda",
        "config": {
            "name": "lambda",
            "function": ["4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMIAAAAfABkARQAUwApAk7p", None, None],
            "function_type": "lambda",
        },
    }
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "keras_metadata.pb").write_bytes(keras_metadata([plain, lam]))
    hits = assert_flagged(tmp_path / "bad", "MS-KERAS-LAMBDA")
    assert hits[0].location.member == "root.layer-1"
