"""Text: the trigger token of a backdoored classifier is found, the clean classifier passes, ONION filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from conftest import TEXT_TARGET, TRIGGER_TOKEN, VOCAB, insert_trigger, sentences
from modelseal.behavior.loading import load_model, load_samples
from modelseal.behavior.text import BigramLM, onion_filter, search_trigger_tokens
from modelseal.cli.app import app


def test_trigger_token_and_target_are_found(text_models: tuple[Path, Path, Path]) -> None:
    _, bad, samples = text_models
    report = search_trigger_tokens(load_model(bad).module, load_samples(samples))
    assert report.suspected
    assert report.target == TEXT_TARGET
    assert report.triggers[0].token == TRIGGER_TOKEN
    assert report.triggers[0].flip_rate > 0.9
    assert report.triggers[0].perplexity_gain > 0.5  # out of place under the clean-text LM


def test_clean_text_model_is_not_flagged(text_models: tuple[Path, Path, Path]) -> None:
    clean, _, samples = text_models
    report = search_trigger_tokens(load_model(clean).module, load_samples(samples))
    assert not report.suspected
    assert report.target is None


def test_onion_filter_removes_the_trigger_and_little_else() -> None:
    x, _ = sentences(300, seed=4)
    lm = BigramLM.fit(x, VOCAB)
    rng = np.random.default_rng(5)
    triggered = insert_trigger(x[:50], rng)
    hits = 0
    for row in triggered:
        cleaned, removed = onion_filter(lm, row)
        hits += TRIGGER_TOKEN not in cleaned
        assert len(removed) <= 2
    assert hits >= 45
    false_removals = sum(len(onion_filter(lm, row)[1]) for row in sentences(50, seed=6)[0])
    assert false_removals <= 5


def test_cli_inspects_text_models(text_models: tuple[Path, Path, Path]) -> None:
    clean, bad, samples = text_models
    runner = CliRunner()
    result = runner.invoke(app, ["inspect", str(bad), "--data", str(samples)])
    assert result.exit_code == 1, result.output
    assert f"token {TRIGGER_TOKEN} -> class {TEXT_TARGET}" in result.output
    assert runner.invoke(app, ["inspect", str(clean), "--data", str(samples)]).exit_code == 0


def test_language_model_memory_does_not_grow_with_the_vocabulary() -> None:
    x, _ = sentences(50, seed=7)
    lm = BigramLM.fit(x, vocab=5_000_000)  # a dense bigram table would need 100 TB
    assert lm.pairs.nbytes < 100_000
    assert lm.log_perplexity(x[0]) < lm.log_perplexity(np.array([4_999_999, 4_999_998, 4_999_997]))
