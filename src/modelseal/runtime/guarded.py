"""One serving wrapper: sanitise -> STRIP check -> predict -> validate -> monitor.

``Guarded(model, ...)`` wraps a classifier (a torch module or any batch -> logits callable) with the run-time
defences of :mod:`modelseal.defense`; each stage is optional and configured by passing its object. Every
stage works on the whole batch at once (the validation gates and the change-point detector are vectorised),
so the wrapper costs little next to the model itself (``bench/bench_guarded.py``). STRIP costs ``blends``
forward passes per checked input, so it runs on a share of the inputs (``strip_share``) unless told to
check them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from modelseal.behavior.strip import StripDetector
    from modelseal.defense.monitor import Alert, Monitor
    from modelseal.defense.sanitize import Sanitized
    from modelseal.defense.validate import OutputValidator, Screened, Verdict


@dataclass(frozen=True)
class GuardedBatch:
    """The answers for one batch and what the defences made of them."""

    screened: Screened = field(repr=False)
    """The validation's result (the answers, labels, confidences and verdicts)."""
    alerts: tuple[Alert, ...] = ()
    strip_checked: Any = field(default=None, repr=False)
    """Indices of the inputs STRIP checked."""
    trojaned: tuple[int, ...] = ()
    """The inputs STRIP held."""

    @property
    def probs(self) -> Any:
        return self.screened.probs

    @property
    def labels(self) -> Any:
        return self.screened.labels

    @property
    def accepted(self) -> Any:
        """Boolean per input: the answer may be acted on."""
        return self.screened.accepted

    @cached_property
    def held(self) -> dict[int, tuple[str, ...]]:
        """The rejected inputs and why (``strip`` for STRIP, the validator's reasons otherwise), decoded
        on first read."""
        held = dict(self.screened.held)
        for i in self.trojaned:
            held[i] = (*held.get(i, ()), "strip")
        return held

    def verdicts(self) -> list[Verdict]:
        from modelseal.defense.validate import Screened

        s = self.screened
        return Screened(s.probs, s.labels, s.confidence, s.accepted, added=self.held).verdicts()


def _looks_like_probs(out: Any) -> bool:
    return bool(((out >= 0) & (out <= 1)).all()) and abs(float(out[0].sum()) - 1) <= 1e-3


@dataclass
class Guarded:
    model: Callable[[Any], Any]
    """A torch module or any callable from a batch (numpy or tensor) to logits or probabilities."""
    strip: StripDetector | None = None
    strip_share: float = 0.1
    """Share of each batch STRIP checks (1.0: every input; it costs ``blends`` passes per input)."""
    validator: OutputValidator | None = None
    monitor: Monitor | None = None
    features: Callable[[Any, Any], dict[str, Any]] | None = None
    """(inputs, probabilities) -> monitored columns; by default the confidence and the predicted class
    (taken from the validation, not computed again)."""
    sanitizer: Callable[[bytes], Sanitized] | None = None
    """For :meth:`sanitize`: defaults to :func:`modelseal.defense.sanitize.sanitize` (by content)."""
    outputs: str = "auto"
    """What the model returns: ``logits``, ``probs``, or ``auto`` (looked at on every batch)."""
    seed: int = 0
    _torch: Any = field(default=None, init=False)
    """The torch module when the model is a torch module (held, so a batch imports nothing)."""
    _np: Any = field(default=None, init=False)
    _rng: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        import numpy as np

        self._np = np
        self._rng = np.random.default_rng(self.seed)
        try:
            import torch
        except ImportError:
            return
        if isinstance(self.model, torch.nn.Module):
            self._torch = torch

    @staticmethod
    def default_columns(probs: Any) -> dict[str, Any]:
        """What the monitor watches by default, for fitting its reference profile on clean answers."""
        return {"confidence": probs.max(1), "predicted": probs.argmax(1)}

    def sanitize(self, data: bytes) -> Sanitized:
        """Clean one raw input; raises :class:`modelseal.defense.errors.RefusedInput` for what it refuses."""
        if self.sanitizer is not None:
            return self.sanitizer(data)
        from modelseal.defense.sanitize import sanitize

        return sanitize(data)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The model's class probabilities for a batch, without any defence (softmax applied to logits)."""
        torch = self._torch
        if torch is not None:
            with torch.no_grad():
                out = self.model(torch.as_tensor(x))
                if self.outputs == "logits" or (self.outputs == "auto" and not _looks_like_probs(out)):
                    out = torch.softmax(out, 1, dtype=torch.float32)
                return out.numpy()  # type: ignore[no-any-return]
        from modelseal.defense.validate import as_probabilities

        return as_probabilities(self.model(x))  # type: ignore[no-any-return]

    def _screen(self, x: Any, client: str | None) -> Screened:
        """Answer and validate a batch. A torch model's logits go to the gate as they are, so the softmax
        is taken in the gate's pass (compiled, one call) rather than by one more torch operation."""
        validator = self.validator
        torch = self._torch
        if validator is None:
            from modelseal.defense.validate import Screened

            probs = self.probabilities(x)
            return Screened(probs, probs.argmax(1), probs.max(1), self._np.ones(len(x), bool))
        if torch is None or self.outputs != "logits":
            return validator.screen(self.probabilities(x), x, client)
        with torch.no_grad():
            logits = self.model(torch.from_numpy(x) if type(x) is self._np.ndarray else torch.as_tensor(x))
        if logits.dtype is not torch.float32 and logits.dtype is not torch.float64:
            logits = logits.float()
        return validator.screen_logits(logits.numpy(), x, client)

    def predict(self, x: Any, client: str | None = None) -> GuardedBatch:
        """Answer a batch through every configured defence. Its cost beside the model's is a handful of
        calls on cold caches (``bench/bench_guarded.py``), so each stage here stays one call per batch."""
        np = self._np
        x = np.asarray(x)
        screened = self._screen(x, client)
        probs = screened.probs
        checked, trojaned = None, ()
        if self.strip is not None and self.strip_share > 0:
            n = len(x)
            take = n if self.strip_share >= 1 else int(self._rng.binomial(n, self.strip_share))
            checked = np.sort(self._rng.choice(n, take, replace=False)) if take < n else np.arange(n)
            if len(checked):
                trojaned = tuple(checked[self.strip.entropies(x[checked]) < self.strip.threshold].tolist())
                screened.accepted[list(trojaned)] = False
        alerts: tuple[Alert, ...] = ()
        if self.monitor is not None:
            if self.features is not None:
                alerts = tuple(self.monitor.observe_batch(self.features(x, probs)))
            else:
                columns = {"confidence": screened.confidence, "predicted": screened.labels}
                alerts = tuple(self.monitor.observe_batch(columns, len(x)))
        return GuardedBatch(screened, alerts, checked, trojaned)
