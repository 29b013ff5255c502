"""A/B differential test for causal language models: next-token distributions, and phrases that make B
alone diverge.

A trigger phrase fine-tuned into B changes nothing on ordinary prompts, so comparing the two models'
next-token distributions (Jensen–Shannon divergence) on probe prompts says little by itself. The search
appends candidate phrases to the probes (beam search over the vocabulary, or over given candidate tokens)
and keeps the phrases after which **B alone moves**: the probability B gives its own top next token minus
the probability A gives that token. Divergence alone would also reward phrases of unseen tokens, after
which two clean fine-tunes are both unsure in different ways; a trigger makes B sure of a continuation A
does not expect. The beams of every length are then ranked by how far B alone moves over its next
``continuation`` tokens (a trigger starts a whole continuation, a stray token moves one step), and the
phrase found, with what B then says and what A would, is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

LogitsFn = Callable[["torch.Tensor"], "torch.Tensor"]
"""Token ids ``(batch, length)`` -> logits ``(batch, length, vocab)`` (e.g. ``lambda t: model(t).logits``)."""


@dataclass(frozen=True)
class LMDiffConfig:
    max_phrase: int = 3
    beam: int = 4
    floor: float = 0.5
    """Least mean lead of B's top token (B's probability minus A's) after the best phrase to call B
    deviating..."""
    ratio: float = 3.0
    """...and at least this many times the lead on the probes as given."""
    continuation: int = 4
    """Tokens of B's (and A's) greedy continuation reported after the phrase."""


@dataclass(frozen=True)
class LMDiffReport:
    deviates: bool
    probe_js: float
    """Mean next-token Jensen–Shannon divergence (nats) on the probes as given."""
    probe_lead: float
    """Mean lead of B's top token over A's probability for it, on the probes as given."""
    phrase: tuple[int, ...]
    """The phrase after which B alone moves most."""
    phrase_lead: float
    phrase_js: float
    b_continuation: tuple[int, ...]
    a_continuation: tuple[int, ...]
    seconds: float


CHUNK = 256
"""Rows run through a model at once: the logits of every position are (rows, length, vocabulary)."""


def _next_logp(fn: LogitsFn, ids: torch.Tensor) -> torch.Tensor:
    import torch

    with torch.no_grad():
        return torch.cat([torch.log_softmax(fn(part)[:, -1].float(), -1) for part in torch.split(ids, CHUNK)])


def _js(la: torch.Tensor, lb: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon divergence (nats) between rows of two log-probability matrices."""
    import math

    import torch

    m = torch.logsumexp(torch.stack([la, lb]), 0) - math.log(2)
    return 0.5 * ((la.exp() * (la - m)).sum(-1) + (lb.exp() * (lb - m)).sum(-1))


def _lead(la: torch.Tensor, lb: torch.Tensor) -> torch.Tensor:
    """How much more probability B gives its own top token than A gives it, per row."""
    top = lb.argmax(-1, keepdim=True)
    return (lb.gather(-1, top).exp() - la.gather(-1, top).exp()).squeeze(-1)


def _continuation_lead(a: LogitsFn, b: LogitsFn, ids: torch.Tensor, steps: int) -> float:
    """Mean over rows of B's lead summed over B's greedy continuation of ``steps`` tokens."""
    import torch

    total = torch.zeros(len(ids))
    for _ in range(steps):
        la, lb = _next_logp(a, ids), _next_logp(b, ids)
        total += _lead(la, lb)
        ids = torch.cat([ids, lb.argmax(-1, keepdim=True)], 1)
    return float(total.mean()) / steps


def _greedy(fn: LogitsFn, ids: torch.Tensor, n: int) -> tuple[int, ...]:
    import torch

    out = ids[:1]
    for _ in range(n):
        nxt = _next_logp(fn, out).argmax(-1, keepdim=True)
        out = torch.cat([out, nxt], 1)
    return tuple(int(t) for t in out[0, ids.shape[1] :])


def diff_language_models(
    a: LogitsFn, b: LogitsFn, prompts: Any, candidates: Sequence[int], config: LMDiffConfig | None = None
) -> LMDiffReport:
    """Compare B with A on ``prompts`` (``(n, length)`` token ids, equal lengths) and search phrases of
    ``candidates`` tokens after which B diverges."""
    import torch

    cfg = config or LMDiffConfig()
    start = time.perf_counter()
    base = torch.as_tensor(prompts, dtype=torch.long)
    la, lb = _next_logp(a, base), _next_logp(b, base)
    probe_js, probe_lead = float(_js(la, lb).mean()), float(_lead(la, lb).mean())
    cand = torch.as_tensor(list(candidates), dtype=torch.long)
    beams: list[tuple[float, float, tuple[int, ...]]] = [(0.0, 0.0, ())]
    kept: list[tuple[float, float, tuple[int, ...]]] = []
    n = len(base)
    for _ in range(cfg.max_phrase):
        grown = []
        for _, _, phrase in beams:
            # every candidate appended to this phrase, after every probe: (len(cand) * n, length + k)
            prefix = torch.cat([base, torch.as_tensor(phrase, dtype=torch.long).expand(n, len(phrase))], 1)
            ids = torch.cat([prefix.repeat(len(cand), 1), cand.repeat_interleave(n)[:, None]], 1)
            la, lb = _next_logp(a, ids), _next_logp(b, ids)
            lead = _lead(la, lb).reshape(len(cand), n).mean(1)
            js = _js(la, lb).reshape(len(cand), n).mean(1)
            grown += [(float(s), float(j), (*phrase, int(t))) for s, j, t in zip(lead, js, cand, strict=True)]
        grown.sort(key=lambda g: -g[0])
        beams = grown[: cfg.beam]
        kept += beams

    def follow(phrase: tuple[int, ...]) -> float:
        ids = torch.cat([base, torch.as_tensor(phrase, dtype=torch.long).expand(n, len(phrase))], 1)
        return _continuation_lead(a, b, ids, cfg.continuation)

    top_lead = max((g[0] for g in kept), default=probe_lead)
    ranked = sorted(kept, key=lambda g: -follow(g[2]))
    lead_best, js_best, phrase = ranked[0] if ranked else (probe_lead, probe_js, ())
    ids = torch.cat([base[:1], torch.as_tensor(phrase, dtype=torch.long)[None]], 1)
    deviates = top_lead >= cfg.floor and top_lead >= cfg.ratio * max(probe_lead, 0.0)
    return LMDiffReport(deviates, probe_js, probe_lead, phrase, lead_best, js_best,
                        _greedy(b, ids, cfg.continuation), _greedy(a, ids, cfg.continuation),
                        time.perf_counter() - start)  # fmt: skip
