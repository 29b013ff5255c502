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
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from modelseal.defense.errors import DefenseError
from modelseal.defense.gatewords import ALL_PASS, COLUMNS, PARAMS_HEAD
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


@dataclass(frozen=True)
class ConfidenceGate:
    thresholds: tuple[float, ...]
    """Least confidence accepted for each predicted class."""
    min_margin: float
    max_entropy: float
    conformal_q: float | None = None
    """Nonconformity quantile: class ``c`` is in the prediction set when ``1 - p_c <= q``."""
    compiled: bool | None = None
    """Judge C-ordered float32 / float64 batches with the compiled kernels
    (:mod:`modelseal.defense.gatekernel`, extra ``jit``): None (the default) when numba is installed;
    False for the numpy gate, which is the reference; True to require them."""

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
    def _plan(self) -> tuple[Any, Any, Any, Any, Any]:
        """The one-pass gate's constants for ``k`` classes: the negated per-class thresholds, the weights
        that turn a row ``[sorted p (k) | p log p (k) | -threshold (1)]`` into one statistic per gate
        column, each column's least passing value (see :meth:`words`), ``x log x`` (0 at 0), and the
        compiled kernel's parameters (:mod:`modelseal.defense.gatekernel`)."""
        import numpy as np
        from scipy.special import xlogy

        k = len(self.thresholds)
        w = np.zeros((2 * k + 1, COLUMNS))
        w[k - 1, (0, 2, 3, 5)] = 1.0  # the confidence (the top of the sorted row)
        w[2 * k, 0] = 1.0  # ... less the predicted class's threshold
        w[k:-1, 1] = 1.0  # sum of p log p: minus the entropy
        w[k - 2, (2, 4)] = -1.0  # the margin; minus the second probability
        t = 1.0 - self.conformal_q if self.conformal_q is not None else None
        least = np.array(
            [0.0, -self.max_entropy, self.min_margin]
            + ([t, np.nextafter(-t, np.inf)] if t is not None else [-np.inf, -np.inf])
            + [-np.inf] * (COLUMNS - 5)
        )
        neg_limits = -np.asarray(self.thresholds, dtype=np.float64)
        params = np.concatenate([least[1 : 1 + PARAMS_HEAD], neg_limits])
        return neg_limits, w, least, xlogy, params

    @property
    def runs_compiled(self) -> bool:
        """Whether :meth:`judge` runs the compiled kernels (read it to load them before serving)."""
        return self._kernels is not None

    @cached_property
    def _kernels(self) -> Any:
        """:mod:`modelseal.defense.gatekernel`, or None: not asked for, or not available here (no numba,
        a big-endian machine, kernels numba could not compile or cache). The numpy gate then answers the
        same; with ``compiled=True`` that is an error instead."""
        if self.compiled is False:
            return None
        if sys.byteorder != "little":
            why = "its gate words are laid out for little-endian machines"
        else:
            try:
                from modelseal.defense import gatekernel
            except ModuleNotFoundError as exc:
                if exc.name != "numba":
                    raise
                why = "numba is not installed: pip install 'modelseal[jit]'"
            except Exception as exc:  # numba is there but failed (an unwritable cache, an LLVM error)
                why = f"numba could not compile or load it ({type(exc).__name__}: {exc})"
                if not self.compiled:
                    warnings.warn(
                        f"modelseal: the numpy gate answers instead: {why}", RuntimeWarning, stacklevel=3
                    )
            else:
                return gatekernel
        if self.compiled:
            raise DefenseError(f"the compiled gate is not available: {why}")
        return None

    def check_batch(self, probs: Any) -> dict[int, list[str]]:
        """The reasons of every row of a batch that fails a gate (rows that pass are absent)."""
        return {i: list(why) for i, why in self.flags(probs)[2].items()}

    def flags(self, probs: Any) -> tuple[Any, Any, dict[int, tuple[str, ...]]]:
        """The predicted labels, their probabilities and :meth:`check_batch`'s reasons."""
        labels, conf, code = self.codes(probs)
        return labels, conf, reasons(code)

    def codes(self, probs: Any) -> tuple[Any, Any, Any]:
        """The predicted labels, their probabilities, and a code per row that is 0 when every gate
        passes (:func:`reasons` reads it)."""
        labels, conf, passed = self.words(probs)
        return labels, conf, ALL_PASS - passed

    def words(self, probs: Any) -> tuple[Any, Any, Any]:
        """The predicted labels, their probabilities, and a 64-bit word per row that equals
        :data:`ALL_PASS` when every gate passes (byte ``i``: gate column ``i`` passed)."""
        return self.judge(probs)[:3]

    def judge(self, probs: Any) -> tuple[Any, Any, Any, Any]:
        """:meth:`words` and, per row, whether every gate passed.

        A serving loop runs this on every batch, just after a forward pass has emptied the caches, so
        the cost is the number of calls, not the arithmetic. The numpy gate lays each row out once as
        ``[sorted p | p log p | -threshold of its class]`` and one matrix product gives every gate's
        statistic (confidence less threshold, minus the entropy, margin, the conformal set's two bounds),
        compared at once with the least passing values. A gate passes on ``>=``, so a NaN fails them
        all. The comparison's boolean rows read as one word each, without a copy. The compiled gate
        (:attr:`compiled`) does all of it in one call."""
        import numpy as np

        p = np.asarray(probs)
        neg_limits, weights, least, xlogy, params = self._plan
        k = len(neg_limits)
        if p.ndim != 2 or p.shape[1] != k or k < 2:
            raise DefenseError(f"the gate was calibrated for {k} classes, got answers of shape {p.shape}")
        if self.compiled is not False and p.dtype.char in "fd" and p.dtype.isnative and p.flags.c_contiguous:
            kernels = self._kernels
            if kernels is not None:
                return kernels.judge(p, params)  # type: ignore[no-any-return]
        elif self.compiled:
            raise DefenseError("the compiled gate takes C-ordered float32 or float64 answers")
        labels = p.argmax(1)
        rows = np.empty((len(p), 2 * k + 1))
        rows[:, :k] = p
        with np.errstate(invalid="ignore"):  # a NaN row fails every gate: expected, not a warning
            xlogy(rows[:, :k], rows[:, :k], out=rows[:, k:-1])
            rows[:, :k].partition(k - 2, axis=1)
            np.take(neg_limits, labels, out=rows[:, -1], mode="clip")
            stats = rows @ weights
        words = (stats >= least).view(np.uint64)[:, 0]
        return labels, stats[:, 5], words, words == ALL_PASS

    def judge_logits(self, logits: Any) -> tuple[Any, Any, Any, Any, Any]:
        """The softmax of a batch of logits (computed in float64, returned in the logits' type) and
        :meth:`judge` of it; the compiled gate takes both in one pass."""
        import numpy as np

        z = np.asarray(logits)
        kernels = self._kernels
        fits = z.ndim == 2 and z.shape[1] == len(self.thresholds) > 1 and z.flags.c_contiguous
        if kernels is not None and fits and z.dtype.char in "fd" and z.dtype.isnative:
            return kernels.judge_logits(z, self._plan[4])  # type: ignore[no-any-return]
        p = softmax(z)
        return (p, *self.judge(p))

    def check(self, probs: Probs) -> list[str]:
        import numpy as np

        return self.check_batch(np.asarray(probs)[None]).get(0, [])


def as_probabilities(rows: Any) -> Any:
    """Rows as float64 probabilities: unchanged when each is already a distribution (no negative value,
    summing to 1 within 1e-3), their :func:`softmax` otherwise (logits)."""
    import numpy as np

    r = np.asarray(rows, dtype=np.float64)
    if (r >= 0).all() and np.allclose(r.sum(-1), 1.0, atol=1e-3):
        return r
    return softmax(r)


def softmax(logits: Any) -> Any:
    """Row-wise softmax in float64, returned in the logits' floating type (float64 for other types). A
    row with a NaN, a positive infinity, or only negative infinities is NaN."""
    import numpy as np

    z = np.asarray(logits)
    kind = z.dtype if z.dtype.char in "efd" else np.dtype(np.float64)
    z = z.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore"):
        e = np.exp(z - z.max(-1, keepdims=True))
        return (e / e.sum(-1, keepdims=True)).astype(kind, copy=False)


def reasons(code: Any) -> dict[int, tuple[str, ...]]:
    """Row -> names of the gates it failed, for the rows of :meth:`ConfidenceGate.codes` that failed one."""
    import numpy as np

    bad = np.flatnonzero(code)
    if not len(bad):
        return {}
    return dict(zip(bad.tolist(), map(_reasons_of, code[bad].tolist()), strict=True))


_GATES = ("low-confidence", "high-entropy", "low-margin", "conformal-set", "conformal-set")


@cache
def _reasons_of(code: int) -> tuple[str, ...]:
    """The gates a code names: byte ``i`` of the word (in memory order) is 1 when column ``i`` failed."""
    import numpy as np

    failed = np.array([code], dtype=np.uint64).view(np.uint8)[: len(_GATES)]
    return tuple(dict.fromkeys(g for g, hit in zip(_GATES, failed.tolist(), strict=True) if hit))


@dataclass(frozen=True)
class Screened:
    """A batch's answers after validation. The names of the reasons (:attr:`held`) are decoded when
    first read: a serving loop that only looks at :attr:`accepted` does not pay for them."""

    probs: Any = field(repr=False)
    labels: Any = field(repr=False)
    confidence: Any = field(repr=False)
    """The probability of each predicted label."""
    accepted: Any = field(repr=False)
    words: Any = field(default=None, repr=False)
    """The gate's word per row (:meth:`ConfidenceGate.words`), if a gate ran."""
    added: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """Reasons other than the gate's, in the order they were found."""

    @cached_property
    def held(self) -> dict[int, tuple[str, ...]]:
        """The rejected rows and why."""
        held = reasons(ALL_PASS - self.words) if self.words is not None else {}
        for i, why in self.added.items():
            held[i] = (*held.get(i, ()), *why)
        return held

    def verdicts(self) -> list[Verdict]:
        conf, held = self.confidence, self.held
        return [Verdict(i not in held, held.get(i, ()), int(self.labels[i]), float(conf[i]))
                for i in range(len(self.labels))]  # fmt: skip


@dataclass(frozen=True)
class ReviewItem:
    """What goes to human review: the answer, why it was held, who asked."""

    client: str | None
    verdict: Verdict
    output: Any
    input: Any = None
    """The input the answer was given for, when the validator had it (a batch's row)."""


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
            return self._screened(p, *self.gate.judge(p), x, client)
        return self._screened(p, p.argmax(1), p.max(1), None, np.ones(len(p), bool), x, client)

    def screen_logits(self, logits: Any, x: Any = None, client: str | None = None) -> Screened:
        """:meth:`screen` of the softmax of a batch of logits; with a gate, the softmax is taken in the
        gate's pass (:meth:`ConfidenceGate.judge_logits`)."""
        if self.gate is not None:
            return self._screened(*self.gate.judge_logits(logits), x, client)
        return self.screen(softmax(logits), x, client)

    def _screened(
        self, p: Any, labels: Any, conf: Any, words: Any, accepted: Any, x: Any, client: str | None
    ) -> Screened:
        added: dict[int, tuple[str, ...]] = {}
        if self.references:
            import numpy as np

            if x is None:
                raise DefenseError("reference models need the inputs the answers were given for")
            others = np.stack([np.asarray(ref(x)).argmax(1) for ref in self.references])
            for row in np.flatnonzero((others != labels).mean(0) > self.max_disagreement).tolist():
                added[row] = ("reference-disagreement",)
        limit = self.rate_limit if client is not None else None
        if limit is not None and limit.limited(client or ""):
            limit = None  # not counted while limited
            for i in range(len(p)):
                added[i] = (*added.get(i, ()), "rate-limited")
        if added:
            accepted[list(added)] = False
        screened = Screened(p, labels, conf, accepted, words, added)
        if (limit is None and self.review is None) or accepted.all():
            return screened
        held = screened.held
        if limit is not None:
            for _ in held:
                limit.record(client or "")
        if self.review is not None:
            for i, why in held.items():
                verdict = Verdict(False, why, int(labels[i]), float(conf[i]))
                self.review(ReviewItem(client, verdict, p[i], None if x is None else x[i]))
        return screened

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
