"""Generate demo models with the standard library alone: no torch, NumPy or scikit-learn is installed to run
the demo. The files follow each format's layout byte for byte (safetensors header, NumPy ``.npy`` v1.0, the
PyTorch zip checkpoint with its ``data.pkl``), so modelseal reads them exactly as it reads the real ones.

The malicious payloads only echo a message; nothing here ever loads a model. Usage:
``python scripts/make_demo.py demo`` then ``modelseal scan demo/benign demo/malicious``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PAYLOAD = "echo modelseal-demo-payload-would-run-here"
WEIGHTS = [0.25, -0.5, 0.75, 1.0, -1.25, 1.5, 0.125, -0.0625]


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (PAYLOAD,)


def _floats(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def safetensors_bytes(tensors: dict[str, tuple[list[int], list[float]]]) -> bytes:
    """8-byte little-endian header length, JSON header (dtype, shape, data offsets), then the raw data."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    data = b""
    for name, (shape, values) in tensors.items():
        raw = _floats(values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def npy_bytes(shape: tuple[int, ...], values: list[float]) -> bytes:
    """NumPy format 1.0: magic, version, header length, a dict literal padded to 64 bytes, the data."""
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + _floats(values)


def _strides(shape: list[int]) -> tuple[int, ...]:
    """Row-major strides, in elements."""
    strides: list[int] = []
    step = 1
    for dim in reversed(shape):
        strides.insert(0, step)
        step *= dim
    return tuple(strides)


@contextmanager
def _torch_names() -> Iterator[tuple[object, object]]:
    """Stand-ins registered under torch's names, so that pickle writes the same GLOBAL opcodes a real
    ``torch.save`` writes (it only records names); removed again afterwards."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args: object) -> None: ...

    float_storage = type("FloatStorage", (), {"__module__": "torch"})
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = float_storage, _rebuild_tensor_v2  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield float_storage, _rebuild_tensor_v2
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def torch_checkpoint_bytes(tensors: dict[str, tuple[list[int], list[float]]]) -> bytes:
    """A ``torch.save`` zip of a state dict: ``data.pkl`` names each storage by persistent id, the storages
    are raw little-endian floats in ``data/<key>``."""
    with _torch_names() as (storage, rebuild):

        class _Tensor:
            def __init__(self, key: str, shape: list[int], numel: int) -> None:
                self.key, self.shape, self.numel = key, shape, numel

            def __reduce__(self) -> tuple[object, ...]:
                ref = _Ref(self.key, self.numel)
                return rebuild, (ref, 0, tuple(self.shape), _strides(self.shape), False, OrderedDict())

        class _Ref:
            def __init__(self, key: str, numel: int) -> None:
                self.key, self.numel = key, numel

        class _Pickler(pickle.Pickler):
            def persistent_id(self, obj: object) -> object:
                return ("storage", storage, obj.key, "cpu", obj.numel) if isinstance(obj, _Ref) else None

        state = OrderedDict(
            (name, _Tensor(str(i), shape, len(values)))
            for i, (name, (shape, values)) in enumerate(tensors.items())
        )
        buf = io.BytesIO()
        _Pickler(buf, protocol=2).dump(state)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/byteorder", "little")
        for i, (_, values) in enumerate(tensors.values()):
            zf.writestr(f"archive/data/{i}", _floats(values))
        zf.writestr("archive/version", "3\n")
    return out.getvalue()


def benign(root: Path) -> None:
    tensors = {"linear.weight": ([2, 4], WEIGHTS), "linear.bias": ([2], WEIGHTS[:2])}
    folder = root / "tiny-model"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(safetensors_bytes(tensors))
    (folder / "config.json").write_text(json.dumps({"architectures": ["TinyNet"], "hidden_size": 4}))
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# tiny demo model\n")
    (root / "state_dict.pt").write_bytes(torch_checkpoint_bytes(tensors))
    (root / "embeddings.npy").write_bytes(npy_bytes((2, 4), WEIGHTS))
    (root / "vocabulary.pkl").write_bytes(pickle.dumps({"tokens": ["a", "b"], "ids": [0, 1]}, protocol=4))


def malicious(root: Path) -> None:
    root.mkdir(parents=True)
    evil = pickle.dumps(_Payload(), protocol=2)
    (root / "reduce_os_system.pkl").write_bytes(evil)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", evil)
        zf.writestr("archive/version", "3\n")
    (root / "checkpoint_with_payload.pt").write_bytes(buf.getvalue())
    (root / "model.safetensors").write_bytes(evil)  # a pickle under a safe format's name
    (root / "sklearn_model.joblib.gz").write_bytes(
        gzip.compress(pickle.dumps({"clf": _Payload()}, protocol=4))
    )
    (root / "nested.pkl").write_bytes(pickle.dumps({"w": evil, "loader": pickle.loads}, protocol=4))


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "demo")
    if out.exists() and any(out.iterdir()):
        print(f"{out} exists and is not empty; choose another folder", file=sys.stderr)
        return 2
    benign(out / "benign")
    malicious(out / "malicious")
    print(f"demo models written to {out}/benign and {out}/malicious", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
