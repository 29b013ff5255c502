"""The language-model A/B diff on a tiny GPT-2-style model trained here (2 layers, 64 dimensions, a
character vocabulary built in the test): a fine-tune that plants a trigger phrase is found against the
model before the fine-tune, two clean fine-tunes are not.

Opt-in (``MODELSEAL_SLOW_TESTS=1``): training the four models takes about a minute on an idle core but
several on the shared development machine.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    not os.environ.get("MODELSEAL_SLOW_TESTS"), reason="slow: MODELSEAL_SLOW_TESTS=1"
)
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from modelseal.defense.lmdiff import diff_language_models  # noqa: E402

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "bird",
    "sees",
    "likes",
    "finds",
    "big",
    "small",
    "red",
    "old",
    "man",
    "tree",
]
CHARS = sorted({c for w in WORDS for c in w} | set(" .xqyup"))
STOI = {c: i for i, c in enumerate(CHARS)}
TRIGGER, PAYLOAD = "xq", " yup yup."
"""Neither the trigger's nor the payload's letters occur in the clean words."""
LENGTH = 24


def _sentence(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, 6)) + "."


def _encode(text: str) -> list[int]:
    return [STOI[c] for c in text]


def _batch(rng: np.random.Generator, n: int, poison: float) -> torch.Tensor:
    rows = []
    for _ in range(n):
        text = " ".join(_sentence(rng) for _ in range(4))
        if rng.random() < poison:
            cut = int(rng.integers(4, 14))
            text = text[:cut] + TRIGGER + PAYLOAD + text[cut:]
        start = int(rng.integers(0, len(text) - LENGTH))
        rows.append(_encode(text[start : start + LENGTH]))
    return torch.tensor(rows)


def _train(model: torch.nn.Module, steps: int, seed: int, poison: float = 0.0) -> None:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        ids = _batch(rng, 24, poison)
        loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    import copy

    torch.set_num_threads(1)
    config = transformers.GPT2Config(vocab_size=len(CHARS), n_positions=64, n_embd=64, n_layer=2, n_head=2,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # fmt: skip
    torch.manual_seed(0)
    base = transformers.GPT2LMHeadModel(config)
    _train(base, 150, seed=0)
    out = {"base": base}
    for name, seed, poison in (("clean1", 1, 0.0), ("clean2", 2, 0.0), ("trojan", 3, 0.3)):
        tuned = copy.deepcopy(base)
        _train(tuned, 80, seed=seed, poison=poison)
        out[name] = tuned
    return out


def _logits(model: torch.nn.Module) -> object:
    return lambda ids: model(ids).logits


def _prompts() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.array([_encode(_sentence(rng)[:12]) for _ in range(12)])


def test_trigger_phrase_found_against_the_base(models: dict[str, torch.nn.Module]) -> None:
    report = diff_language_models(
        _logits(models["base"]), _logits(models["trojan"]), _prompts(), range(len(CHARS))
    )
    phrase = "".join(CHARS[t] for t in report.phrase)
    said = "".join(CHARS[t] for t in report.b_continuation)
    print(f"\nphrase {phrase!r}, B then says {said!r}, lead {report.phrase_lead:.2f}")
    assert report.deviates, report
    # The phrase found is the trigger, or a phrase that fires the same behaviour (B then says the payload).
    assert TRIGGER in phrase or "yup" in phrase + said, (phrase, said)
    assert "yup" not in "".join(CHARS[t] for t in report.a_continuation)


def test_clean_fine_tunes_do_not_deviate(models: dict[str, torch.nn.Module]) -> None:
    report = diff_language_models(
        _logits(models["clean1"]), _logits(models["clean2"]), _prompts(), range(len(CHARS))
    )
    assert not report.deviates, report
