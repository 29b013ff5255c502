"""ReviewSink without a registry: held answers go to the callback; summaries never carry raw inputs."""

from __future__ import annotations

import numpy as np
import pytest

from modelseal.defense.validate import ConfidenceGate, OutputValidator, ReviewItem
from modelseal.runtime.review import ReviewSink, summarize


def test_without_a_server_every_held_answer_goes_to_the_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELSEAL_SERVER", raising=False)
    got: list[ReviewItem] = []
    sink = ReviewSink(model="m", callback=got.append)
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (300, 3))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    gate = ConfidenceGate.calibrate(probs, probs.argmax(1), false_reject=0.05)
    x = rng.random((40, 5))
    screened = OutputValidator(gate=gate, review=sink).screen(probs[:40], x, client="c")
    assert len(got) == len(screened.held) > 0
    first = next(iter(screened.held))
    assert got[0].verdict.reasons == screened.held[first] and got[0].client == "c"
    assert np.array_equal(got[0].input, x[first]) and np.array_equal(got[0].output, probs[first])
    payload = sink.payload(got[0])
    assert payload["reasons"] == list(screened.held[first]) and payload["output"]["label"] == int(
        probs[first].argmax()
    )
    assert sink.flush() and sink.counts == {"posted": 0, "failed": 0, "dropped": 0}


def test_summaries_describe_without_copying() -> None:
    row = np.array([0.1, 0.7, np.nan, 0.2])
    s = summarize(row)
    assert s is not None
    assert s["shape"] == [4] and s["nonfinite"] == 1 and s["max"] == 0.7 and s["top"][0] == [1, 0.7]
    assert "excerpt" not in s and len(s["sha256"]) == 64
    long = "secret " * 100
    t = summarize(long)
    assert t is not None and t["length"] == 700 and len(t["excerpt"]) == 200
    assert summarize(b"\x00\x01")["length"] == 2  # type: ignore[index]
    assert summarize("\ud800") is not None  # a lone surrogate is described, not a crash
    assert summarize(None) is None
    assert summarize({"a": object()})["type"] == "dict"  # type: ignore[index]
