"""Load the model under inspection and its sample data through safe formats only.

A model is accepted as TorchScript (a zip with a ``code/`` folder, read by TorchScript's own restricted
unpickler that resolves no Python globals) or ONNX (protobuf, converted to torch by ``onnx2torch``). A plain
``torch.save`` checkpoint is refused: loading it would mean unpickling it. Samples come as ``.npz`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelseal.core.errors import LimitExceeded, ModelsealError
from modelseal.core.extras import require
from modelseal.core.limits import Limits

if TYPE_CHECKING:
    import numpy as np
    import torch

MAX_SAMPLE_BYTES = 2 << 30
"""Largest sample file read into memory."""
MAX_MODEL_BYTES = 4 << 30
"""Largest model the behavioural inspection will load (it runs the model on the CPU)."""


class BehaviorError(ModelsealError):
    """The model or the samples cannot be inspected; the message says which and why."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to run: ``module`` maps a float batch to logits."""

    module: torch.nn.Module
    kind: str
    """``torchscript`` or ``onnx``."""
    path: str


@dataclass(frozen=True)
class Samples:
    """Clean (or training) samples: ``x`` inputs, ``y`` integer labels."""

    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)

    @property
    def is_text(self) -> bool:
        """Integer inputs are token ids; everything else is a float tensor (image or tabular)."""
        import numpy as np

        return bool(np.issubdtype(self.x.dtype, np.integer))


def model_kind(path: str | Path) -> str:
    """``torchscript`` or ``onnx``, decided by content (the scanners' signatures) before torch is imported;
    anything else, a pickle first of all, is refused with a message saying what it is."""
    from modelseal.scanners import signatures

    path = Path(path)
    if not path.is_file():
        raise BehaviorError(f"{path}: no such model file")
    with path.open("rb") as fh:
        head = fh.read(512)
    if signatures.zip_archive(head):
        return _zip_kind(path)
    if signatures.onnx(head):
        return "onnx"
    if signatures.pickle_with_proto(head) or signatures.compressed(head):
        raise BehaviorError(
            f"{path}: a pickle (torch.save, joblib or pickle file, perhaps compressed), which would run code "
            "when loaded; export the model with torch.jit.script/trace or to ONNX and inspect that"
        )
    raise BehaviorError(f"{path}: neither TorchScript nor ONNX (unrecognised content); nothing was loaded")


def _zip_kind(path: Path) -> str:
    from modelseal.scanners.zipspans import unbounded_directory

    try:
        with open(path, "rb") as fh:
            if why := unbounded_directory(fh, Limits()):  # zipfile would read it whole
                raise BehaviorError(f"{path}: {why}; nothing was loaded")
            with zipfile.ZipFile(fh) as zf:
                names = zf.namelist()
    except zipfile.BadZipFile as exc:
        raise BehaviorError(f"{path}: damaged zip archive ({exc})") from None
    if any("/code/" in n for n in names) and any(n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    raise BehaviorError(
        f"{path}: a zip archive but not TorchScript (a torch.save checkpoint would have to be "
        "unpickled); export the model with torch.jit.script/trace or to ONNX and inspect that"
    )


def load_model(path: str | Path) -> LoadedModel:
    """Load a TorchScript or ONNX classifier on the CPU in eval mode; refuse anything that needs pickle."""
    import torch

    p = Path(path)
    kind = model_kind(p)
    size = p.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise LimitExceeded(f"{p}: model size", MAX_MODEL_BYTES, size)
    if kind == "torchscript":
        try:
            module: torch.nn.Module = torch.jit.load(str(p), map_location="cpu")  # type: ignore[no-untyped-call]
        except Exception as exc:  # TorchScript raises plain RuntimeError on damaged archives
            raise BehaviorError(f"{p}: not a loadable TorchScript archive ({exc})") from None
    else:
        module = _load_onnx(p)
    module.eval()
    return LoadedModel(module, kind, str(p))


def _load_onnx(path: Path) -> torch.nn.Module:
    require("behavior", "onnx", "onnx2torch", feature=f"{path}: ONNX models")
    import onnx
    from onnx2torch import convert  # type: ignore[import-untyped]

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises its own DecodeError family
        raise BehaviorError(f"{path}: neither TorchScript nor a parseable ONNX model ({exc})") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise BehaviorError(f"{path}: ONNX model with external weight files is not supported for inspection")
    try:
        module: torch.nn.Module = convert(proto)
    except Exception as exc:  # onnx2torch raises NotImplementedError and friends on unknown operators
        raise BehaviorError(f"{path}: ONNX graph cannot be run by onnx2torch ({exc})") from None
    return module


def load_samples(path: str | Path, *, max_bytes: int = MAX_SAMPLE_BYTES) -> Samples:
    """Read ``x`` and ``y`` from an ``.npz`` without unpickling; check shapes and dtypes."""
    p = Path(path)
    data = read_arrays(p, required=("x", "y"), what="'x' (inputs) and 'y' (labels)", max_bytes=max_bytes)
    return check_samples(data["x"], data["y"], origin=str(p))


def read_arrays(
    p: Path, *, required: tuple[str, ...], what: str, max_bytes: int = MAX_SAMPLE_BYTES
) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` read without unpickling, within ``max_bytes`` on disk and expanded;
    ``required`` names the arrays it must hold (``what`` says them in the error)."""
    import numpy as np

    if not p.is_file():
        raise BehaviorError(f"{p}: no such sample file")
    size = p.stat().st_size
    if size > max_bytes:
        raise LimitExceeded(f"{p}: sample file size", max_bytes, size)
    try:
        with zipfile.ZipFile(p) as zf:  # compressed members could expand far beyond the file size
            expanded = sum(i.file_size for i in zf.infolist())
        if expanded > max_bytes:
            raise LimitExceeded(f"{p}: decompressed sample arrays", max_bytes, expanded)
        with np.load(p, allow_pickle=False) as data:
            if any(name not in data.files for name in required):
                raise BehaviorError(f"{p}: the .npz must hold arrays {what}")
            return {name: data[name] for name in data.files}
    except BehaviorError:
        raise
    except ValueError as exc:  # object arrays need pickle and are refused here
        raise BehaviorError(f"{p}: unreadable sample arrays ({exc})") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise BehaviorError(f"{p}: not an .npz archive ({exc})") from None


def check_samples(x: Any, y: Any, origin: str = "samples") -> Samples:
    """Validate arrays given through the Python API the same way as a file."""
    import numpy as np

    x, y = np.asarray(x), np.asarray(y)
    if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.integer)):
        raise BehaviorError(
            f"{origin}: 'x' must be numeric and 'y' integer labels (got {x.dtype}, {y.dtype})"
        )
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y) or len(x) < 2:
        raise BehaviorError(
            f"{origin}: need x of shape (N, ...) and y of shape (N,), got {x.shape} and {y.shape}"
        )
    if y.min() < 0:
        raise BehaviorError(f"{origin}: labels must be non-negative class indices")
    if not np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise BehaviorError(f"{origin}: 'x' contains NaN or infinite values")
    return Samples(x, y.astype(np.int64))
