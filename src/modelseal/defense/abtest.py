"""A/B differential testing: does the updated model B behave like the approved model A?

Comparing answers on probes is not enough: on clean probes a backdoored B answers like A. So besides
the disagreement rate (overall, and among answers both models are confident about) the diff searches
for inputs where **B alone moves**: it reconstructs B's smallest trigger for every class with the batched
trigger inversion of :mod:`modelseal.behavior.trigger` (token search of :mod:`modelseal.behavior.text`
for token-id models), stamps it on clean probes, and measures how often it sends them to that class in B
and in A. A backdoor's trigger moves B and leaves A alone; the easy classes of a clean model move both
(features the models share). The same is done the other way round, so a trigger A carries and B lacks
is named too. Causal language models are compared on next-token distributions (:mod:`.lmdiff`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelseal.behavior.loading import Samples

if TYPE_CHECKING:
    import numpy as np
    import torch

    from modelseal.behavior.trigger import InversionConfig, TriggerReport


@dataclass(frozen=True)
class DiffConfig:
    min_gap: float = 0.5
    """Least difference in attack success (B minus A) for a trigger to count as B's alone."""
    min_score: float = 2.0
    """Least trigger-inversion anomaly score of that class in B (below ``inspect``'s 2.8: the reference
    adds the evidence that a single model lacks)."""
    confident: float = 0.9
    """Probability above which an answer counts as confident."""
    tolerance: float = 0.05
    """Share of probes on which both models may confidently disagree (independently trained clean models
    of the behaviour tests stay below 2 %)."""
    inversion: InversionConfig | None = None


@dataclass(frozen=True)
class Deviation:
    """A trigger one model obeys and the other does not."""

    model: str
    """``B`` or ``A``: which model moves."""
    target: int
    score: float
    """Trigger-inversion (or token-search) anomaly score of ``target`` in the moving model."""
    success: float
    """Share of other-class probes the trigger sends to ``target`` in the moving model..."""
    reference_success: float
    """...and in the other one."""
    region: tuple[int, int, int, int] | None = None
    """Rows ``[r0, r1)`` and columns ``[c0, c1)`` the trigger covers (images); None for other inputs."""
    token: int | None = None
    """The trigger token (token-id models)."""


@dataclass(frozen=True)
class DiffReport:
    deviates: bool
    """B behaves differently from A: a trigger of its own, or confident answers that differ too often."""
    disagreement: float
    confident_disagreement: float
    tolerance: float
    flips: tuple[tuple[int, int, int], ...]
    """The most frequent ``(label by A, label by B, count)`` among the probes they disagree on."""
    deviations: tuple[Deviation, ...]
    """Triggers found, B's first; empty when none."""
    seconds: float
    b_inversion: TriggerReport | None = field(default=None, repr=False, compare=False)
    a_inversion: TriggerReport | None = field(default=None, repr=False, compare=False)

    @property
    def b_deviation(self) -> Deviation | None:
        return next((d for d in self.deviations if d.model == "B"), None)


def _probs(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    import numpy as np
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(x), 256):
            out.append(torch.softmax(module(torch.as_tensor(x[start : start + 256])).float(), 1).numpy())
    return np.concatenate(out)


def _agreement(
    pa: np.ndarray, pb: np.ndarray, cfg: DiffConfig
) -> tuple[float, float, tuple[tuple[int, int, int], ...]]:
    import numpy as np

    la, lb = pa.argmax(1), pb.argmax(1)
    differ = la != lb
    sure = (pa.max(1) >= cfg.confident) & (pb.max(1) >= cfg.confident)
    pairs, counts = np.unique(np.stack([la[differ], lb[differ]], 1), axis=0, return_counts=True)
    order = np.argsort(-counts)[:5]
    flips = tuple((int(pairs[i][0]), int(pairs[i][1]), int(counts[i])) for i in order)
    return float(differ.mean()), float((differ & sure).mean()), flips


def trigger_region(mask: np.ndarray, share: float = 0.5) -> tuple[int, int, int, int]:
    """Bounding box (rows ``[r0, r1)``, columns ``[c0, c1)``) of the mask where it reaches ``share`` of its
    maximum."""
    import numpy as np

    m = np.asarray(mask)
    m = m.reshape(m.shape[-2:]) if m.ndim > 2 else m
    rows, cols = np.nonzero(m >= share * m.max())
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def _transfer(
    mover: torch.nn.Module, other: torch.nn.Module, samples: Samples, report: TriggerReport, cfg: DiffConfig,
    name: str,
) -> list[Deviation]:  # fmt: skip
    import numpy as np

    from modelseal.behavior.trigger import apply_trigger

    held = samples.x[:256]
    labels = samples.y[: len(held)]
    found = []
    for cls in report.classes:
        c = cls.label
        keep = labels != c
        if cls.score < cfg.min_score or not keep.any():
            continue
        stamped = apply_trigger(held[keep], report.masks[c], report.patterns[c]).astype(np.float32)
        moved = float((_probs(mover, stamped).argmax(1) == c).mean())
        stays = float((_probs(other, stamped).argmax(1) == c).mean())
        if moved - stays >= cfg.min_gap:
            region = trigger_region(report.masks[c]) if samples.x.ndim == 4 else None
            found.append(Deviation(name, c, cls.score, moved, stays, region))
    return sorted(found, key=lambda d: -d.score)


def _inserted(x: np.ndarray, token: int, seed: int = 0) -> np.ndarray:
    """Each sentence with ``token`` at a random position (the last slot falls off)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out: np.ndarray = x.copy()
    for row in out:
        p = min(int(rng.integers(0, int((row > 0).sum()) + 1)), len(row) - 1)
        row[p:] = np.concatenate([[token], row[p:-1]])
    return out


def _text_deviations(
    a: torch.nn.Module, b: torch.nn.Module, samples: Samples, cfg: DiffConfig
) -> list[Deviation]:
    from modelseal.behavior.text import search_trigger_tokens

    found = []
    for name, mover, other in (("B", b, a), ("A", a, b)):
        report = search_trigger_tokens(mover, samples)
        for t in report.triggers if report.suspected else ():
            keep = samples.y != t.target
            stamped = _inserted(samples.x[keep][:256], t.token)
            moved = float((_probs(mover, stamped).argmax(1) == t.target).mean())
            stays = float((_probs(other, stamped).argmax(1) == t.target).mean())
            if moved - stays >= cfg.min_gap:
                found.append(Deviation(name, t.target, t.score, moved, stays, token=t.token))
    return found


def diff_classifiers(
    a: torch.nn.Module, b: torch.nn.Module, samples: Samples, config: DiffConfig | None = None
) -> DiffReport:
    """Compare B with the approved A on clean probes and search for triggers only one of them obeys."""
    from modelseal.behavior.trigger import invert_triggers

    cfg = config or DiffConfig()
    start = time.perf_counter()
    pa, pb = _probs(a, samples.x), _probs(b, samples.x)
    if pa.shape[1] != pb.shape[1]:
        return DiffReport(True, 1.0, 1.0, cfg.tolerance, (), (), time.perf_counter() - start)
    rate, sure_rate, flips = _agreement(pa, pb, cfg)
    inv_a = inv_b = None
    if samples.is_text:
        deviations = _text_deviations(a, b, samples, cfg)
    else:
        inv_b, inv_a = invert_triggers(b, samples, cfg.inversion), invert_triggers(a, samples, cfg.inversion)
        deviations = _transfer(b, a, samples, inv_b, cfg, "B") + _transfer(a, b, samples, inv_a, cfg, "A")
    deviates = any(d.model == "B" for d in deviations) or sure_rate > cfg.tolerance
    return DiffReport(deviates, rate, sure_rate, cfg.tolerance, flips, tuple(deviations),
                      time.perf_counter() - start, inv_b, inv_a)  # fmt: skip


def as_dict(report: DiffReport) -> dict[str, Any]:
    """The JSON document of a diff."""
    from dataclasses import asdict

    return {
        "deviates": report.deviates,
        "disagreement": round(report.disagreement, 4),
        "confident_disagreement": round(report.confident_disagreement, 4),
        "tolerance": report.tolerance,
        "flips": [{"a": a, "b": b, "count": n} for a, b, n in report.flips],
        "deviations": [asdict(d) for d in report.deviations],
        "seconds": round(report.seconds, 2),
    }
