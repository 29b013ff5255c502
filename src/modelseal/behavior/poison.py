"""Data-level inspection: which training samples carry the backdoor.

Activation clustering (Chen et al.) and spectral signatures (Tran et al.) both work on the penultimate layer
here (the logits layer that ART uses by default keeps little besides the label). Their weak point is the
decision: split every class in two, or cut its top-scoring share, and a share of every *clean* class is
flagged too. The decision rule here is per class and comes from the model: a class is examined only when
the batched trigger inversion finds it to be a robust outlier among the classes (``trigger``). Inside such a
class three views vote on each sample:

- activation clustering: 2-means on the top principal components; the cluster nearer to the activations of
  clean other-class inputs stamped with the recovered trigger is the poisoned one;
- spectral signature: the top singular direction of the centred activations, split in two;
- trigger signature: the direction from the class mean to the stamped inputs' mean, split in two.

A sample is reported when at least two views put it on the poisoned side; its score is its projection on the
trigger signature in robust standard deviations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelseal.behavior.loading import BehaviorError, Samples, check_samples
from modelseal.behavior.probe import Features, activations, penultimate
from modelseal.behavior.trigger import (
    InversionConfig,
    Progress,
    TriggerReport,
    apply_trigger,
    invert_triggers,
    median_spread,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

SCORE_THRESHOLD = 2.0
"""A voted sample is reported only this many robust standard deviations beyond the class's unflagged samples
along the trigger signature: closer than that, it is not told apart from them."""


@dataclass(frozen=True)
class ClassPoison:
    """What was found in one flagged class."""

    label: int
    samples: int
    suspected: int
    trigger_score: float


@dataclass(frozen=True)
class PoisonReport:
    """Verdict of the data-level inspection."""

    suspected: bool
    classes: tuple[ClassPoison, ...]
    """Only the classes the trigger inversion flagged."""
    indices: Any = field(repr=False, compare=False)
    """Indices into the training set of the suspected poisoned samples, highest score first."""
    scores: Any = field(repr=False, compare=False)
    """Score of each suspected sample (robust standard deviations along the trigger signature)."""
    trigger: TriggerReport
    seconds: float = 0.0


def _two_way(values: np.ndarray, seed: int) -> np.ndarray:
    """Cluster labels of a 2-means split (rows are points)."""
    from sklearn.cluster import KMeans  # type: ignore[import-untyped]

    return KMeans(2, n_init=3, random_state=seed).fit(values).labels_  # type: ignore[no-any-return]


def _side(labels: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The members of the cluster whose mean ``key`` is higher."""
    import numpy as np

    high = int(np.argmax([key[labels == j].mean() if (labels == j).any() else -np.inf for j in (0, 1)]))
    return labels == high  # type: ignore[no-any-return]


def _votes(acts: np.ndarray, stamped: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Poisoned-side vote of the three views for one class, and the trigger-signature score."""
    import numpy as np
    from sklearn.decomposition import PCA  # type: ignore[import-untyped]

    centred = acts - acts.mean(0)
    towards = stamped.mean(0) - acts.mean(0)
    norm = float(np.linalg.norm(towards))
    if norm == 0.0 or len(acts) < 4:
        return np.zeros(len(acts), bool), np.zeros(len(acts))
    signature = centred @ (towards / norm)
    pca = PCA(min(10, *centred.shape), random_state=seed).fit(centred)
    reduced = pca.transform(centred)
    clusters = _two_way(reduced, seed)
    target = pca.transform(towards[None])[0]
    centroids = np.stack([reduced[clusters == j].mean(0) for j in (0, 1)])
    clustering = clusters == int(np.argmin(((centroids - target) ** 2).sum(1)))
    top = pca.components_[0] * np.sign(pca.components_[0] @ towards or 1.0)
    spectral = centred @ top
    spectral_side = _side(_two_way(spectral[:, None], seed), spectral)
    signature_side = _side(_two_way(signature[:, None], seed), signature)
    votes = clustering.astype(int) + spectral_side.astype(int) + signature_side.astype(int)
    flagged = votes >= 2
    if flagged.all():
        return np.zeros(len(acts), bool), np.zeros(len(acts))
    med, spread = median_spread(signature[~flagged], 1e-9)  # measured against the class's unflagged samples
    score = (signature - med) / spread
    return flagged & (score > SCORE_THRESHOLD), score


def find_poison(
    module: torch.nn.Module,
    train: Samples,
    *,
    clean: Samples | None = None,
    config: InversionConfig | None = None,
    features: Features | None = None,
    inversion_samples: int = 500,
    progress: Progress | None = None,
) -> PoisonReport:
    """Find the poisoned samples of ``train`` (the data ``module`` was trained on).

    ``clean`` are trusted samples for the trigger inversion; without them a random subset of ``train`` is
    used, which works because poison is a small share of the non-target classes.
    """
    import numpy as np
    import torch

    cfg = config or InversionConfig()
    start = time.perf_counter()
    if train.is_text:
        raise BehaviorError("data-level inspection needs float inputs (image or tabular)")
    rng = np.random.default_rng(cfg.seed)
    if clean is None:
        pick = rng.choice(len(train.y), min(inversion_samples, len(train.y)), replace=False)
        clean = check_samples(train.x[pick], train.y[pick], "training subset")
    trig = invert_triggers(module, clean, cfg, progress=progress)
    feats = features or penultimate(module, torch.as_tensor(train.x[:4]))
    acts = activations(feats, train.x)
    found: list[ClassPoison] = []
    idx_parts, score_parts = [], []
    for entry in trig.classes:
        if entry.score <= cfg.threshold:
            continue
        c = entry.label
        members = np.flatnonzero(train.y == c)
        others = clean.x[clean.y != c]
        stamped_x = apply_trigger(others, trig.masks[c], trig.patterns[c])
        stamped = activations(feats, stamped_x.astype(np.float32))
        flagged, score = _votes(acts[members], stamped, cfg.seed)
        found.append(ClassPoison(c, len(members), int(flagged.sum()), entry.score))
        idx_parts.append(members[flagged])
        score_parts.append(score[flagged])
    indices = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
    scores = np.concatenate(score_parts) if score_parts else np.zeros(0)
    order = np.argsort(-scores)
    return PoisonReport(
        suspected=bool(len(indices)),
        classes=tuple(found),
        indices=indices[order],
        scores=scores[order],
        trigger=trig,
        seconds=time.perf_counter() - start,
    )
