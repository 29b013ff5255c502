"""Text classifiers: search the vocabulary for a trigger token, and filter inputs ONION-style.

The model takes token ids (``(batch, length)`` integers, 0 is padding) and returns logits. A word-level
backdoor is a token whose mere presence sends any sentence to one label. The search inserts every
vocabulary token at a random position of clean sentences of other labels (one batched pass per token
block) and measures how often the label flips to each class; a backdoor token is a robust outlier of that
flip rate among all tokens, and far above what sentiment-laden natural words achieve.

The perplexity side follows ONION (Qi et al., 2021): trigger tokens are usually out of place, so removing
them makes a sentence more likely under a language model. No pretrained LM is needed (nothing may be
downloaded): a smoothed bigram model fitted on the clean sentences gives the perplexities. Each found
trigger carries its perplexity gain, and :func:`onion_filter` strips such outlier tokens from live inputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelseal.behavior.loading import BehaviorError, Samples
from modelseal.behavior.trigger import Progress, median_spread, robust_low_z

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass(frozen=True)
class TextConfig:
    sentences: int = 64
    """Clean sentences each token is inserted into."""
    min_flip: float = 0.8
    """A trigger flips at least this share of other-label sentences."""
    threshold: float = 6.0
    """Robust z-score of the flip rate (against all tokens) above which a token is reported."""
    mad_floor: float = 0.02
    seed: int = 0


@dataclass(frozen=True)
class TokenTrigger:
    token: int
    target: int
    flip_rate: float
    """Share of other-label sentences that the token sends to ``target``."""
    score: float
    """Robust z-score of the flip rate among all tokens."""
    perplexity_gain: float
    """Mean rise in log-perplexity (bigram LM) when the token is inserted: high means out of place (ONION)."""


@dataclass(frozen=True)
class TextReport:
    suspected: bool
    target: int | None
    triggers: tuple[TokenTrigger, ...]
    """Reported tokens, strongest first; when nothing is suspected, the strongest candidate for reference."""
    seconds: float = 0.0


@dataclass(frozen=True)
class BigramLM:
    """Bigram model over token ids interpolated with an add-k unigram; id 0 is padding and never counted.

    The unigram part is what makes a never-seen token improbable in any context, as a trigger word is.
    Counts are kept sparse (sorted pair keys), so memory grows with the text, not with the vocabulary squared.
    """

    vocab: int
    pairs: Any = field(repr=False)
    """Sorted keys ``previous * vocab + next`` of the bigrams seen; previous 0 marks a sentence start."""
    pair_counts: Any = field(repr=False)
    totals: Any = field(repr=False)
    """Bigrams counted per previous token."""
    unigram: Any = field(repr=False)
    """Add-k smoothed unigram probabilities."""
    weight: float = 0.5
    """Share of the bigram estimate in the interpolation."""

    @classmethod
    def fit(cls, x: np.ndarray, vocab: int, k: float = 0.01) -> BigramLM:
        import numpy as np

        rows = [np.asarray([0, *(int(t) for t in row if 0 < t < vocab)], np.int64) for row in x]
        prev = np.concatenate([r[:-1] for r in rows])
        nxt = np.concatenate([r[1:] for r in rows])
        pairs, counts = np.unique(prev * vocab + nxt, return_counts=True)
        uni = np.bincount(nxt, minlength=vocab).astype(np.float64) + k
        uni[0] = 0.0
        return cls(vocab, pairs, counts, np.bincount(prev, minlength=vocab), uni / uni.sum())

    def log_perplexity(self, tokens: np.ndarray) -> float:
        """Mean negative log-probability per token of one sentence."""
        import numpy as np

        toks = np.asarray([0, *(min(int(t), self.vocab - 1) for t in tokens if t > 0)], np.int64)
        if len(toks) < 2:
            return 0.0
        prev, nxt = toks[:-1], toks[1:]
        keys = prev * self.vocab + nxt
        at = np.searchsorted(self.pairs, keys).clip(max=max(len(self.pairs) - 1, 0))
        found = self.pair_counts[at] * (self.pairs[at] == keys) if len(self.pairs) else np.zeros(len(keys))
        bigram = np.where(self.totals[prev] > 0, found / np.maximum(self.totals[prev], 1), 0.0)
        prob = self.weight * bigram + (1 - self.weight) * self.unigram[nxt]
        return float(-np.log(prob).mean())

    def removal_gains(self, tokens: np.ndarray) -> np.ndarray:
        """For each non-padding position, how much the log-perplexity drops when that token is removed."""
        import numpy as np

        live = np.asarray([int(t) for t in tokens if t > 0])
        base = self.log_perplexity(live)
        return np.array([base - self.log_perplexity(np.delete(live, i)) for i in range(len(live))])


def onion_filter(
    lm: BigramLM, tokens: np.ndarray, *, min_gain: float = 0.5, z: float = 3.0
) -> tuple[np.ndarray, list[int]]:
    """Remove tokens whose removal makes the sentence markedly more likely (ONION's suspicion score).

    A token goes when its log-perplexity gain is above ``min_gain`` and a robust outlier (``z`` MADs)
    among the sentence's own gains. Returns the cleaned sentence (padded back) and the removed positions.
    """
    import numpy as np

    tokens = np.asarray(tokens)
    live = np.asarray([int(t) for t in tokens if t > 0], dtype=tokens.dtype)
    gains = lm.removal_gains(live)
    if len(gains) == 0:
        return tokens.copy(), []
    med, spread = median_spread(gains, 0.0)
    removed = [int(i) for i in np.flatnonzero((gains > min_gain) & (gains > med + z * spread))]
    kept = np.delete(live, removed)
    out = np.zeros_like(tokens)
    out[: len(kept)] = kept
    return out, removed


def vocabulary_size(module: torch.nn.Module, samples: Samples) -> int:
    """The first embedding table's size, else one past the largest id seen."""
    for m in module.modules():
        name = getattr(m, "original_name", type(m).__name__)
        weight = getattr(m, "weight", None)
        if name in {"Embedding", "EmbeddingBag"} and weight is not None:
            return int(weight.shape[0])
    return int(samples.x.max()) + 1


class _Inserter:
    """Inserts a token at fixed per-sentence positions (the last slot falls off), vectorised."""

    def __init__(self, x: np.ndarray, positions: np.ndarray) -> None:
        import numpy as np

        cols = np.arange(x.shape[1])[None, :]
        shifted = np.where(cols > positions[:, None], cols - 1, cols)
        self.base = np.take_along_axis(x, shifted, axis=1)
        self.rows = np.arange(len(x))
        self.positions = positions

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        """``(len(tokens) * N, length)``: every sentence once per token, token-major."""
        import numpy as np

        out = np.tile(self.base, (len(tokens), 1)).reshape(len(tokens), *self.base.shape)
        out[:, self.rows, self.positions] = tokens[:, None]
        return out.reshape(-1, self.base.shape[1])


def search_trigger_tokens(
    module: torch.nn.Module,
    samples: Samples,
    *,
    vocab: int | None = None,
    config: TextConfig | None = None,
    progress: Progress | None = None,
) -> TextReport:
    """Find tokens whose insertion flips clean sentences to one label."""
    import numpy as np
    import torch

    cfg = config or TextConfig()
    start = time.perf_counter()
    if not samples.is_text or samples.x.ndim != 2:
        raise BehaviorError("text inspection needs token ids of shape (N, length)")
    size = vocab or vocabulary_size(module, samples)
    rng = np.random.default_rng(cfg.seed)
    pick = rng.choice(len(samples.y), min(cfg.sentences, len(samples.y)), replace=False)
    x, y = samples.x[pick], samples.y[pick]
    lengths = np.maximum((x > 0).sum(1), 1)
    positions = rng.integers(0, lengths + 1).clip(max=x.shape[1] - 1)
    lm = BigramLM.fit(samples.x, size)
    with torch.no_grad():
        k = int(module(torch.as_tensor(x[:1])).shape[1])
    insert = _Inserter(x, positions)
    flips = np.zeros((size, k))
    block = max(1, 4096 // len(x))
    with torch.no_grad():
        for first in range(1, size, block):
            if progress is not None:
                progress(first - 1, size - 1)
            tokens = np.arange(first, min(first + block, size))
            pred = module(torch.as_tensor(insert(tokens))).argmax(1).numpy().reshape(len(tokens), len(x))
            for c in range(k):
                other = y != c
                flips[tokens, c] = (pred[:, other] == c).mean(1) if other.any() else 0.0
    scores = np.stack([robust_low_z(-flips[1:, c], cfg.mad_floor) for c in range(k)], 1)
    clean_perplexity = [lm.log_perplexity(sentence) for sentence in x]
    candidates: list[TokenTrigger] = []
    for flat in np.argsort(-scores, axis=None)[:5]:
        row, c = divmod(int(flat), k)
        token = row + 1
        inserted = insert(np.array([token]))
        gain = float(
            np.mean([lm.log_perplexity(a) - b for a, b in zip(inserted, clean_perplexity, strict=True)])
        )
        candidates.append(TokenTrigger(token, c, float(flips[token, c]), float(scores[row, c]), gain))
    found = tuple(t for t in candidates if t.flip_rate >= cfg.min_flip and t.score > cfg.threshold)
    return TextReport(
        suspected=bool(found),
        target=found[0].target if found else None,
        triggers=found or tuple(candidates[:1]),
        seconds=time.perf_counter() - start,
    )
