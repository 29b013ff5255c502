"""Input-level check at serving time: STRIP (Gao et al., 2019) with the paper's per-blend entropy.

An input carrying a trigger keeps its (target) prediction when other clean images are superimposed on it,
so the predictions on the blends have low entropy; a clean input's predictions scatter. The score is the
mean over ``n`` blends of each blend's prediction entropy -- not the entropy of the averaged prediction,
which hides that scatter. The decision threshold is the ``false_alarm``-quantile of the scores of held-out
clean inputs, so the operator chooses how many clean requests may be rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from modelseal.behavior.loading import BehaviorError

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass(frozen=True)
class StripResult:
    """Verdict for one input."""

    entropy: float
    """Mean per-blend prediction entropy (nats); low means the prediction ignores what is blended in."""
    threshold: float
    trojaned: bool


@dataclass(frozen=True)
class StripDetector:
    """A calibrated STRIP check; build it with :meth:`calibrate`, then call :meth:`check` per request.

    It holds the model and a bank of clean overlays; ``check`` costs ``blends`` forward passes per input,
    batched, and is safe to call from a serving loop (no state changes between calls).
    """

    module: torch.nn.Module = field(repr=False)
    overlays: Any = field(repr=False)
    """Clean inputs superimposed on the checked ones."""
    threshold: float
    false_alarm: float
    blends: int = 32
    weight: float = 1.0
    """Weight of the overlay; 1.0 adds it as the paper does (then clips to the data range)."""
    low: float = 0.0
    high: float = 1.0
    seed: int = 0

    @classmethod
    def calibrate(
        cls,
        module: torch.nn.Module,
        clean: np.ndarray,
        *,
        false_alarm: float = 0.05,
        blends: int = 32,
        weight: float = 1.0,
        seed: int = 0,
    ) -> StripDetector:
        """Split ``clean`` into overlays and calibration inputs; set the threshold at ``false_alarm``."""
        import numpy as np

        if not 0.0 < false_alarm < 1.0:
            raise BehaviorError("false_alarm must lie strictly between 0 and 1")
        clean = np.asarray(clean, dtype=np.float32)
        if len(clean) < 20:
            raise BehaviorError("STRIP needs at least 20 clean inputs to calibrate")
        order = np.random.default_rng(seed).permutation(len(clean))
        half = len(clean) // 2
        draft = cls(module, clean[order[:half]], 0.0, false_alarm, blends, weight,
                    float(clean.min()), float(clean.max()), seed)  # fmt: skip
        scores = draft.entropies(clean[order[half:]])
        threshold = float(np.quantile(scores, false_alarm))
        return replace(draft, threshold=threshold)

    def entropies(self, x: np.ndarray) -> np.ndarray:
        """Mean per-blend entropy for each input of a batch."""
        import numpy as np
        import torch

        x = np.asarray(x, dtype=np.float32)
        rng = np.random.default_rng(self.seed)
        picks = rng.integers(len(self.overlays), size=self.blends)
        over = torch.as_tensor(self.overlays[picks])
        out = np.zeros(len(x))
        with torch.no_grad():
            for start in range(0, len(x), 64):
                chunk = torch.as_tensor(x[start : start + 64])
                mixed = (chunk.unsqueeze(1) + self.weight * over.unsqueeze(0)).clamp(self.low, self.high)
                logp = torch.log_softmax(self.module(mixed.flatten(0, 1)).float(), dim=1)
                ent = -(logp.exp() * logp).sum(1).reshape(len(chunk), self.blends)
                out[start : start + len(chunk)] = ent.mean(1).numpy()
        return out

    def check(self, x: np.ndarray) -> StripResult:
        """Verdict for a single input (without the batch axis)."""
        import numpy as np

        entropy = float(self.entropies(np.asarray(x)[None])[0])
        return StripResult(entropy, self.threshold, entropy < self.threshold)

    def check_batch(self, x: np.ndarray) -> list[StripResult]:
        """Verdicts for a batch of inputs."""
        return [StripResult(float(e), self.threshold, bool(e < self.threshold)) for e in self.entropies(x)]
