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
    _torch: bool = field(default=False, init=False)
    _rng: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        import numpy as np

        self._rng = np.random.default_rng(self.seed)
        try:
            import torch

            self._torch = isinstance(self.model, torch.nn.Module)
        except ImportError:
            self._torch = False

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
        import numpy as np

        if self._torch:
            import torch

            with torch.no_grad():
                out = self.model(torch.as_tensor(x))
                if self.outputs == "logits" or (self.outputs == "auto" and not _looks_like_probs(out)):
                    out = torch.softmax(out, 1, dtype=torch.float32)
                return out.numpy()  # type: ignore[no-any-return]
        p = np.asarray(self.model(x), dtype=np.float64)
        if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-3):
            e = np.exp(p - p.max(1, keepdims=True))
            p = e / e.sum(1, keepdims=True)
        return p

    def predict(self, x: Any, client: str | None = None) -> GuardedBatch:
        """Answer a batch through every configured defence."""
        import numpy as np

        x = np.asarray(x)
        probs = self.probabilities(x)
        if self.validator is not None:
            screened = self.validator.screen(probs, x, client)
        else:
            from modelseal.defense.validate import Screened

            screened = Screened(probs, probs.argmax(1), probs.max(1), np.ones(len(x), bool))
        checked, trojaned = None, []
        if self.strip is not None and self.strip_share > 0:
            n = len(x)
            take = n if self.strip_share >= 1 else int(self._rng.binomial(n, self.strip_share))
            checked = np.sort(self._rng.choice(n, take, replace=False)) if take < n else np.arange(n)
            if len(checked):
                trojaned = checked[self.strip.entropies(x[checked]) < self.strip.threshold].tolist()
                screened.accepted[trojaned] = False
        alerts: tuple[Alert, ...] = ()
        if self.monitor is not None:
            columns = (
                self.features(x, probs)
                if self.features
                else {"confidence": screened.confidence, "predicted": screened.labels}
            )
            alerts = tuple(self.monitor.observe_batch(columns))
        return GuardedBatch(screened, alerts, checked, tuple(trojaned))
