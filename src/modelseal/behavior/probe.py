"""Run a loaded classifier: the penultimate layer the data-level detectors need, and its activations."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelseal.behavior.loading import BehaviorError

if TYPE_CHECKING:
    import numpy as np
    import torch

Features = Callable[["torch.Tensor"], "torch.Tensor"]


def _is_linear(m: torch.nn.Module) -> bool:
    import torch

    return isinstance(m, torch.nn.Linear) or getattr(m, "original_name", "") == "Linear"


def penultimate(module: torch.nn.Module, probe: torch.Tensor) -> Features:
    """A function giving the input of the last linear layer (the penultimate activations).

    Why not hooks everywhere: TorchScript modules do not take new hooks, so for them the top-level children
    are composed in order (flattening before a linear layer) and the composition is checked against the
    model's own output on ``probe``. A TorchScript model may instead export a ``features`` method.
    """
    import torch

    if hasattr(module, "features") and callable(module.features):
        return module.features  # type: ignore[no-any-return]
    if not isinstance(module, torch.jit.ScriptModule):
        return _hooked(module)
    children = list(module.children())
    last = max((i for i, c in enumerate(children) if _is_linear(c)), default=-1)
    if last < 0:
        raise BehaviorError(
            "no linear output layer found; export a `features` method to give the penultimate layer"
        )

    def run(x: torch.Tensor, stop: int) -> torch.Tensor:
        for child in children[:stop]:
            x = child(x)
        return x

    def head(h: torch.Tensor) -> torch.Tensor:
        for child in children[last:]:
            h = child(h.flatten(1) if _is_linear(child) and h.dim() > 2 else h)
        return h

    def features(x: torch.Tensor) -> torch.Tensor:
        return run(x, last).flatten(1)

    with torch.no_grad():
        try:
            same = torch.allclose(head(features(probe)), module(probe), atol=1e-4, rtol=1e-3)
        except RuntimeError:
            same = False
    if not same:
        raise BehaviorError(
            "the model's layers do not run in sequence; "
            "export a `features` method to give the penultimate layer"
        )
    return features


def _hooked(module: torch.nn.Module) -> Features:

    linears = [m for m in module.modules() if _is_linear(m)]
    if not linears:
        raise BehaviorError("no linear output layer found to take the penultimate activations from")
    captured: dict[str, torch.Tensor] = {}

    def keep(_m: torch.nn.Module, args: tuple[Any, ...]) -> None:
        captured["h"] = args[0]

    linears[-1].register_forward_pre_hook(keep)

    def features(x: torch.Tensor) -> torch.Tensor:
        module(x)
        return captured.pop("h").flatten(1)

    return features


def activations(features: Features, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Penultimate activations of a whole array, as float32."""
    import numpy as np
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            out.append(features(torch.as_tensor(x[start : start + batch_size])).float().numpy())
    return np.concatenate(out)
