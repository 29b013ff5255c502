"""The confidence gate as one compiled pass over a batch, for serving loops (extra ``jit``: numba).

Right after a model's forward pass the caches are cold, and every numpy call costs 3-8 microseconds on
top of its arithmetic; the numpy gate (:meth:`modelseal.defense.validate.ConfidenceGate.judge`) needs
about ten of them, more than the whole run-time budget of a small model. These kernels read each row
once and write the same labels, confidences and gate words, so a batch costs one call; given logits,
the softmax is taken in the same pass. The numpy gate stays the reference:
``tests/runtime/test_gatekernel.py`` holds the two equal, NaN and infinities included.

Importing this module needs numba; it compiles the kernels for C-ordered float32 and float64 batches
(seconds) the first time, and loads numba's on-disk cache afterwards.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from modelseal.defense.gatewords import ALL_PASS, PARAMS_HEAD

ENTROPY_SLACK = 1e-9
"""How far (in nats) the entropy bound must clear the limit for a row to skip the exact sum."""


# Gate columns are the bytes of a row's word, column ``i`` at bits ``8i``: the layout of ALL_PASS in
# memory on the little-endian machines the kernels are used on.
@numba.njit(nogil=True, cache=True, error_model="numpy", inline="always")  # type: ignore[misc]
def _judge_row(p: Any, i: int, params: Any, labels: Any, conf: Any, words: Any, accepted: Any) -> None:
    """Judge row ``i`` of ``p`` into the outputs. A row holding NaN, an infinity or a negative value fails
    every gate and has a NaN confidence; its label is numpy's ``argmax`` (the first NaN, if any).

    The entropy costs a logarithm per value, most of the arithmetic; a row whose entropy is bounded
    below the limit skips it. With ``m`` the top probability and ``r`` the rest of the row's mass over
    ``k - 1`` classes, convexity gives ``H <= -m log m - r log(r / (k - 1))``: two logarithms, and a
    confident row (most of them) needs no more. The bound must clear the limit by ``ENTROPY_SLACK``,
    far above the rounding of either sum, so the answer is the one the full sum would give."""
    k = p.shape[1]
    best, nan_at, bad = 0, -1, False
    top1, top2, total = -math.inf, -math.inf, 0.0
    for j in range(k):
        v = float(p[i, j])
        if v != v:
            if nan_at < 0:
                nan_at = j
            bad = True
            continue
        if not (0.0 <= v < math.inf):
            bad = True
        if v > top1:
            top1, top2, best = v, top1, j
        elif v > top2:
            top2 = v
        total += v
    labels[i] = nan_at if nan_at >= 0 else best
    word = 0
    if bad:
        conf[i] = math.nan
    else:
        conf[i] = top1
        if top1 + params[PARAMS_HEAD + best] >= 0.0:
            word |= 1
        rest = total - top1
        bound = -top1 * math.log(top1) if top1 > 0.0 else 0.0
        if rest > 0.0:
            bound -= rest * math.log(rest / (k - 1))
        if -bound >= params[0] + ENTROPY_SLACK:
            word |= 1 << 8
        else:
            plogp = 0.0
            for j in range(k):
                v = float(p[i, j])
                if v > 0.0:
                    plogp += v * math.log(v)
            if plogp >= params[0]:
                word |= 1 << 8
        if top1 - top2 >= params[1]:
            word |= 1 << 16
        if top1 >= params[2]:
            word |= 1 << 24
        if -top2 >= params[3]:
            word |= 1 << 32
        word |= (1 << 40) | (1 << 48) | (1 << 56)  # the columns that pass unless a value is NaN
    words[i] = word
    accepted[i] = word == ALL_PASS


_OUT = "int64[::1], float64[::1], uint64[::1], boolean[::1]"


@numba.njit(  # type: ignore[misc]
    [f"Tuple(({_OUT}))({t}[:, ::1], float64[::1])" for t in ("float32", "float64")],
    nogil=True,
    cache=True,
    error_model="numpy",
)
def judge(p: Any, params: Any) -> tuple[Any, Any, Any, Any]:
    """Labels, confidences, gate words and acceptance for a batch of probabilities."""
    n = p.shape[0]
    labels = np.empty(n, np.int64)
    conf = np.empty(n, np.float64)
    words = np.empty(n, np.uint64)
    accepted = np.empty(n, np.bool_)
    for i in range(n):
        _judge_row(p, i, params, labels, conf, words, accepted)
    return labels, conf, words, accepted


@numba.njit(  # type: ignore[misc]
    [f"Tuple(({t}[:, ::1], {_OUT}))({t}[:, ::1], float64[::1])" for t in ("float32", "float64")],
    nogil=True,
    cache=True,
    error_model="numpy",
)
def judge_logits(z: Any, params: Any) -> tuple[Any, Any, Any, Any, Any]:
    """The softmax of a batch of logits (in float64, stored in their type) and :func:`judge` of it. A
    row with a NaN, a positive infinity or only negative infinities has NaN probabilities, as
    :func:`modelseal.defense.validate.softmax` gives it, and fails."""
    n, k = z.shape
    probs = np.empty_like(z)
    exps = np.empty(k)
    labels = np.empty(n, np.int64)
    conf = np.empty(n, np.float64)
    words = np.empty(n, np.uint64)
    accepted = np.empty(n, np.bool_)
    for i in range(n):
        top = -math.inf
        finite = True
        for j in range(k):
            v = float(z[i, j])
            if not (v < math.inf):  # NaN or +inf
                finite = False
            elif v > top:
                top = v
        if finite and top > -math.inf:  # a -inf logit is a class ruled out: probability 0
            total = 0.0
            for j in range(k):
                exps[j] = math.exp(float(z[i, j]) - top)
                total += exps[j]
            for j in range(k):
                probs[i, j] = exps[j] / total
        else:
            for j in range(k):
                probs[i, j] = math.nan
        _judge_row(probs, i, params, labels, conf, words, accepted)
    return probs, labels, conf, words, accepted
