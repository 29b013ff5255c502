"""Output validation: check what the model answered before anyone acts on it.

- :class:`ConfidenceGate`: per-class confidence thresholds, an entropy and a margin gate, all calibrated
  on clean data at a chosen false-rejection rate, and optionally split-conformal prediction sets (an
  answer is accepted only when its set holds exactly one class at the chosen coverage).
- :class:`OutputValidator`: the gate, disagreement with reference models, JSON-schema and deny-pattern
  checks for structured and text outputs, honeytokens, a per-client limit on anomalous answers, and a
  hand-off of every rejected answer to human review (a callback; the registry's review queue when a
  server is configured).
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from modelseal.defense.errors import DefenseError
from modelseal.defense.honeytokens import Honeytokens

Probs = Any
"""A probability vector (numpy array or sequence) over the classes."""


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reasons: tuple[str, ...] = ()
    """Why it was rejected: ``low-confidence``, ``high-entropy``, ``low-margin``, ``conformal-set``,
    ``reference-disagreement``, ``schema``, ``deny-pattern``, ``honeytoken``, ``rate-limited``."""
    label: int | None = None
    confidence: float | None = None


def _entropy(p: Any) -> Any:
    import numpy as np

    p = np.clip(p, 1e-12, 1.0)
    return -(p * np.log(p)).sum(-1)


def _margin(p: Any) -> Any:
    import numpy as np

    top2 = np.sort(p, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


_GATES = ("low-confidence", "high-entropy", "low-margin", "conformal-set")


@dataclass(frozen=True)
class ConfidenceGate:
    thresholds: tuple[float, ...]
    """Least confidence accepted for each predicted class."""
    min_margin: float
    max_entropy: float
    conformal_q: float | None = None
    """Nonconformity quantile: class ``c`` is in the prediction set when ``1 - p_c <= q``."""

    @classmethod
    def calibrate(
        cls, probs: Any, labels: Any, *, false_reject: float = 0.01, conformal_alpha: float | None = None
    ) -> ConfidenceGate:
        """Thresholds from clean, labelled data: each gate rejects about ``false_reject`` of the correct
        answers; per-class thresholds fall back to the pooled one for classes with fewer than 20."""
        import numpy as np

        p, y = np.asarray(probs, dtype=np.float64), np.asarray(labels)
        if p.ndim != 2 or len(p) != len(y) or len(p) < 50:
            raise DefenseError("calibration needs at least 50 probability rows with one label each")
        pred = p.argmax(1)
        right = pred == y
        conf = p.max(1)
        pooled = float(np.quantile(conf[right], false_reject)) if right.any() else 0.0
        thresholds = []
        for c in range(p.shape[1]):
            mine = conf[right & (pred == c)]
            thresholds.append(float(np.quantile(mine, false_reject)) if len(mine) >= 20 else pooled)
        q = None
        if conformal_alpha is not None:
            scores = 1.0 - p[np.arange(len(y)), y]
            level = min(1.0, math.ceil((len(y) + 1) * (1 - conformal_alpha)) / len(y))
            q = float(np.quantile(scores, level, method="higher"))
        return cls(
            tuple(thresholds),
            float(np.quantile(_margin(p[right]), false_reject)) if right.any() else 0.0,
            float(np.quantile(_entropy(p[right]), 1 - false_reject)) if right.any() else math.inf,
            q,
        )

    @cached_property
    def _limits(self) -> Any:
        import numpy as np

        return np.asarray(self.thresholds, dtype=np.float64)

    def check_batch(self, probs: Any) -> dict[int, list[str]]:
        """The reasons of every row of a batch that fails a gate (rows that pass are absent)."""
        return {i: list(why) for i, why in self.flags(probs)[2].items()}

    def flags(self, probs: Any) -> tuple[Any, Any, dict[int, tuple[str, ...]]]:
        """The predicted labels, their probabilities and :meth:`check_batch`'s reasons."""
        labels, conf, code = self.codes(probs)
        return labels, conf, reasons(code)

    def codes(self, probs: Any) -> tuple[Any, Any, Any]:
        """The predicted labels, their probabilities, and a code per row that is 0 when every gate
        passes (:func:`reasons` reads it). A serving loop runs this on every batch, so it is a handful of
        numpy calls: each gate writes its verdicts into one column of a ``(rows, 4)`` boolean matrix,
        whose rows read as one 32-bit code each without a copy."""
        import numpy as np

        p = np.asarray(probs)
        labels = p.argmax(1)
        top2 = np.partition(p, -2, axis=1)
        second, conf = top2[:, -2], top2[:, -1]
        failed = np.zeros((len(p), len(_GATES)), bool)  # column i: gate i failed
        np.less(conf, self._limits[labels], out=failed[:, 0])
        np.less(np.einsum("ij,ij->i", p, np.log(p + 1e-12)), -self.max_entropy, out=failed[:, 1])
        np.less(conf - second, self.min_margin, out=failed[:, 2])
        if self.conformal_q is not None:
            # The set {c: p_c >= 1 - q} holds one class exactly when the top class is in, the second not.
            t = 1.0 - self.conformal_q
            np.less(conf, t, out=failed[:, 3])
            failed[:, 3] |= second >= t
        return labels, conf, failed.view(np.uint32)[:, 0]

    def check(self, probs: Probs) -> list[str]:
        import numpy as np

        return self.check_batch(np.asarray(probs)[None]).get(0, [])


def reasons(code: Any) -> dict[int, tuple[str, ...]]:
    """Row -> names of the gates it failed, for the rows of :meth:`ConfidenceGate.codes` that failed one."""
    import numpy as np

    bad = np.flatnonzero(code)
    if not len(bad):
        return {}
    table = _reason_table()
    return dict(zip(bad.tolist(), map(table.__getitem__, code[bad].tolist()), strict=True))


@cache
def _reason_table() -> dict[int, tuple[str, ...]]:
    """Code -> reasons for every combination of failed gates (the codes are the boolean rows read as
    32-bit integers, so they are built the same way, whatever the byte order)."""
    import numpy as np

    rows = np.array([[bool(c >> bit & 1) for bit in range(len(_GATES))] for c in range(16)])
    codes = rows.view(np.uint32)[:, 0].tolist()
    return {
        code: tuple(g for g, hit in zip(_GATES, row, strict=True) if hit)
        for code, row in zip(codes, rows, strict=True)
    }


@dataclass(frozen=True)
class Screened:
    """A batch's answers after validation: ``held`` maps the rejected rows to their reasons."""

    probs: Any = field(repr=False)
    labels: Any = field(repr=False)
    confidence: Any = field(repr=False)
    """The probability of each predicted label."""
    accepted: Any = field(repr=False)
    held: dict[int, tuple[str, ...]]

    def verdicts(self) -> list[Verdict]:
        conf = self.confidence
        return [Verdict(i not in self.held, self.held.get(i, ()), int(self.labels[i]), float(conf[i]))
                for i in range(len(self.labels))]  # fmt: skip


@dataclass(frozen=True)
class ReviewItem:
    """What goes to human review: the answer, why it was held, who asked."""

    client: str | None
    verdict: Verdict
    output: Any


@dataclass
class RateLimit:
    """At most ``max_anomalies`` rejected answers per client in ``period`` seconds; past it, every answer
    to that client is rejected until the window clears (a client probing for the trigger stands out)."""

    max_anomalies: int = 20
    period: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _events: dict[str, deque[float]] = field(default_factory=dict, init=False)

    def limited(self, client: str) -> bool:
        events = self._events.get(client)
        if not events:
            return False
        cutoff = self.clock() - self.period
        while events and events[0] < cutoff:
            events.popleft()
        return len(events) >= self.max_anomalies

    def record(self, client: str) -> None:
        self._events.setdefault(client, deque()).append(self.clock())


@dataclass
class OutputValidator:
    gate: ConfidenceGate | None = None
    references: Sequence[Callable[[Any], Probs]] = ()
    """Reference models (input -> probabilities); an answer they disagree with is held."""
    max_disagreement: float = 0.5
    """Share of references allowed to name another class."""
    schema: dict[str, Any] | None = None
    """JSON schema structured outputs must satisfy (needs ``jsonschema``)."""
    deny: Sequence[str] = ()
    """Regular expressions text outputs must not match."""
    honeytokens: Honeytokens | None = None
    rate_limit: RateLimit | None = None
    review: Callable[[ReviewItem], None] | None = None
    _deny: list[re.Pattern[str]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._deny = [re.compile(p) for p in self.deny]

    def screen(self, probs: Any, x: Any = None, client: str | None = None) -> Screened:
        """Validate a batch of classifier answers (``x``: the batch of inputs, for the reference models).
        Per-row work (review, rate limiting) happens only for the rows held."""
        import numpy as np

        p = np.asarray(probs)
        if self.gate is not None:
            labels, conf, code = self.gate.codes(p)
            accepted, held = code == 0, reasons(code)
        else:
            labels, conf = p.argmax(1), p.max(1)
            accepted, held = np.ones(len(p), bool), {}
        if self.references:
            if x is None:
                raise DefenseError("reference models need the inputs the answers were given for")
            others = np.stack([np.asarray(ref(x)).argmax(1) for ref in self.references])
            for row in np.flatnonzero((others != labels).mean(0) > self.max_disagreement).tolist():
                held[row] = (*held.get(row, ()), "reference-disagreement")
        limited = self.rate_limit is not None and client is not None and self.rate_limit.limited(client)
        if limited:
            held = {i: (*held.get(i, ()), "rate-limited") for i in range(len(p))}
        if not held:
            return Screened(p, labels, conf, accepted, held)
        if self.references or limited:
            accepted[list(held)] = False
        if self.rate_limit is not None and client is not None and not limited:
            for _ in held:
                self.rate_limit.record(client)
        if self.review is not None:
            for i, why in held.items():
                self.review(ReviewItem(client, Verdict(False, why, int(labels[i]), float(conf[i])), p[i]))
        return Screened(p, labels, conf, accepted, held)

    def check_batch(self, probs: Any, x: Any = None, client: str | None = None) -> list[Verdict]:
        """One :class:`Verdict` per row (see :meth:`screen`)."""
        return self.screen(probs, x, client).verdicts()

    def check_probs(self, probs: Probs, x: Any = None, client: str | None = None) -> Verdict:
        """Validate one classifier answer (``x``: its input, for the reference models, which map a batch
        to probabilities)."""
        import numpy as np

        batch = None if x is None else np.asarray(x)[None]
        return self.check_batch(np.asarray(probs)[None], batch, client)[0]

    def _text_reasons(self, text: str) -> list[str]:
        reasons = [f"deny-pattern:{pat.pattern}" for pat in self._deny if pat.search(text)]
        if self.honeytokens and self.honeytokens.find(text):
            reasons.append("honeytoken")
        return reasons

    def check_text(self, text: str, client: str | None = None) -> Verdict:
        return self._finish(self._text_reasons(text), client, text)

    def check_json(self, document: Any, client: str | None = None) -> Verdict:
        import json

        reasons = []
        if self.schema is not None:
            import jsonschema

            try:
                jsonschema.validate(document, self.schema)
            except jsonschema.ValidationError as exc:
                reasons.append(f"schema:{exc.message}")
        reasons += self._text_reasons(json.dumps(document, ensure_ascii=False))
        return self._finish(reasons, client, document)

    def _finish(self, reasons: list[str], client: str | None, output: Any) -> Verdict:
        if self.rate_limit is not None and client is not None:
            if self.rate_limit.limited(client):
                reasons.append("rate-limited")
            elif reasons:
                self.rate_limit.record(client)
        verdict = Verdict(not reasons, tuple(reasons))
        if reasons and self.review is not None:
            self.review(ReviewItem(client, verdict, output))
        return verdict
