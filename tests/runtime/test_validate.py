"""Output validation, honeytokens and canaries on small synthetic answers (no torch needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelseal.defense.canary import CanarySuite, run_canaries, run_scheduled
from modelseal.defense.errors import DefenseError
from modelseal.defense.honeytokens import Honeytokens
from modelseal.defense.validate import ConfidenceGate, OutputValidator, RateLimit, ReviewItem


def _clean_probs(n: int, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(k, size=n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 4.0
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True), y


def test_gate_calibrated_false_rejections_and_catches_uncertain_answers() -> None:
    p, y = _clean_probs(2000)
    gate = ConfidenceGate.calibrate(p, y, false_reject=0.01, conformal_alpha=0.05)
    held, yh = _clean_probs(2000, seed=1)
    right = held.argmax(1) == yh
    rejected = np.array([bool(gate.check(row)) for row in held[right]])
    assert rejected.mean() < 0.1  # four gates at 1 % each, plus conformal sets at 95 % coverage
    flat = np.full(4, 0.25)
    assert {"low-confidence", "high-entropy", "low-margin", "conformal-set"} <= set(gate.check(flat))
    with pytest.raises(DefenseError):
        ConfidenceGate.calibrate(p[:10], y[:10])


def _reasons_by_definition(gate: ConfidenceGate, row: np.ndarray) -> list[str]:
    """Each gate's rule for one answer, written out in plain Python."""
    top = sorted(row.tolist())
    conf, second, label = top[-1], top[-2], int(row.argmax())
    entropy = -sum(float(v) * float(np.log(v + 1e-12)) for v in row)
    out = []
    if conf < gate.thresholds[label]:
        out.append("low-confidence")
    if entropy > gate.max_entropy:
        out.append("high-entropy")
    if conf - second < gate.min_margin:
        out.append("low-margin")
    if gate.conformal_q is not None and (conf < 1 - gate.conformal_q or second >= 1 - gate.conformal_q):
        out.append("conformal-set")
    return out


@pytest.mark.parametrize("conformal", [None, 0.05])
def test_batched_gate_gives_each_row_the_reasons_of_its_definition(conformal: float | None) -> None:
    """The serving loop's one-pass gate (a code per row) names exactly the gates each answer fails."""
    p, y = _clean_probs(500)
    gate = ConfidenceGate.calibrate(p, y, false_reject=0.05, conformal_alpha=conformal)
    rng = np.random.default_rng(3)
    logits = rng.normal(0, rng.uniform(0.3, 3.0, (300, 1)), (300, 4))
    batch = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    found = gate.check_batch(batch)
    entropy = -np.einsum("ij,ij->i", batch, np.log(batch + 1e-12))
    clear = np.abs(entropy - gate.max_entropy) > 1e-5  # rows away from the entropy bound's rounding
    assert 20 < len(found) < 300
    for i in np.flatnonzero(clear):
        assert found.get(int(i), []) == _reasons_by_definition(gate, batch[i]), i
    labels, conf, held = gate.flags(batch)
    assert labels.tolist() == batch.argmax(1).tolist() and np.array_equal(conf, batch.max(1))
    assert {i: list(why) for i, why in held.items()} == found
    v = OutputValidator(gate=gate)
    screened = v.screen(batch)
    assert screened.accepted.tolist() == [i not in found for i in range(len(batch))]


def test_validator_references_text_json_rate_limit_and_review() -> None:
    pytest.importorskip("jsonschema")
    clock = [0.0]
    held: list[ReviewItem] = []
    tokens = Honeytokens.generate(2)
    planted = next(iter(tokens.tokens))
    v = OutputValidator(
        references=[lambda x: np.tile([0.9, 0.1], (len(x), 1)), lambda x: np.tile([0.8, 0.2], (len(x), 1))],
        schema={"type": "object", "required": ["label"], "properties": {"label": {"type": "string"}}},
        deny=[r"(?i)rm -rf", r"https?://\S+\.onion"],
        honeytokens=tokens,
        rate_limit=RateLimit(max_anomalies=2, period=10.0, clock=lambda: clock[0]),
        review=held.append,
    )
    assert v.check_probs(np.array([0.95, 0.05]), x=1).accepted
    assert v.check_probs(np.array([0.1, 0.9]), x=1).reasons == ("reference-disagreement",)
    assert v.check_text("all good").accepted
    assert "honeytoken" in v.check_text(f"the key is {planted}").reasons
    assert v.check_json({"label": 3}).reasons[0].startswith("schema:")
    assert v.check_json({"label": "run rm -RF /"}).reasons == ("deny-pattern:(?i)rm -rf",)
    assert len(held) == 4
    for _ in range(2):
        assert not v.check_text("rm -rf", client="eve").accepted
    assert v.check_text("fine", client="eve").reasons == ("rate-limited",)
    assert v.check_text("fine", client="bob").accepted
    clock[0] = 11.0
    assert v.check_text("fine", client="eve").accepted


def test_honeytokens_in_output_and_logs() -> None:
    tokens = Honeytokens.generate(3)
    t = sorted(tokens.tokens)[0]
    assert [h.token for h in tokens.find(f"x {t} y")] == [t]
    other = Honeytokens.generate(1)  # another set's token: still recognised by its shape
    assert tokens.find(f"leak {next(iter(other.tokens))}")
    assert tokens.find("msh_notatoken and plain text") == []
    hits = tokens.scan_lines(["ok", f"GET /?q={t}", "ok"])
    assert [(h.position, h.where) for h in hits] == [(1, "log")]


def _model(flip: bool) -> object:
    """A linear 'model' over 4 features; with ``flip`` a bright corner (feature 3 = 1) forces class 0."""

    def predict(x: np.ndarray) -> np.ndarray:
        logits = np.stack([x[:, 0], x[:, 1], x[:, 2]], 1) * 5
        if flip:
            logits[:, 0] += 20 * (x[:, 3] > 0.9)
        return logits

    return predict


def test_canaries_known_answers_and_trigger(tmp_path: Path) -> None:
    x = np.eye(4, dtype=np.float32)[:3].repeat(5, 0) * 0.8
    y = np.repeat(np.arange(3), 5)
    good = _model(False)
    mask = np.array([0, 0, 0, 1], np.float32)
    suite = CanarySuite(x, y, probs=None, trigger_mask=mask, trigger_pattern=np.ones(4, np.float32),
                        trigger_target=0)  # fmt: skip
    suite.save(tmp_path / "c.npz")
    loaded = CanarySuite.load(tmp_path / "c.npz")
    assert loaded.trigger_target == 0
    assert run_canaries(good, loaded).passed  # type: ignore[arg-type]
    bad = run_canaries(_model(True), loaded)  # type: ignore[arg-type]
    assert not bad.passed and bad.trigger_rate == 1.0 and bad.wrong_labels == ()
    results: list[object] = []
    naps: list[float] = []
    run_scheduled(good, loaded, every=5, count=3, on_result=results.append, sleep=naps.append)  # type: ignore[arg-type]
    assert len(results) == 3 and naps == [5, 5]
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(DefenseError):
        CanarySuite.load(tmp_path / "bad.npz")


def test_gate_fails_closed_on_nan_and_decodes_reasons_only_when_read() -> None:
    p, y = _clean_probs(500)
    gate = ConfidenceGate.calibrate(p, y, false_reject=0.05, conformal_alpha=0.1)
    batch = p[:8].copy()
    batch[3] = np.nan
    screened = OutputValidator(gate=gate).screen(batch)
    assert not screened.accepted[3]
    assert "held" not in screened.__dict__  # nothing decoded yet
    assert screened.held[3] == ("low-confidence", "high-entropy", "low-margin", "conformal-set")
    with pytest.raises(DefenseError):
        gate.codes(p[:, :3])  # answers over another number of classes
