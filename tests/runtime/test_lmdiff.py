"""The language-model A/B diff, through ``modelseal diff-behavior`` on model folders, on a tiny GPT-2
model trained here (1 layer, 32 dimensions, a character vocabulary and tokenizer.json built in the test): a
fine-tune that plants a trigger phrase is found against the model before the fine-tune, two clean
fine-tunes are not. Training the four models takes about ten seconds of one core.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from modelseal.cli.app import run  # noqa: E402

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


def _train(model: torch.nn.Module, steps: int, seed: int, lr: float, poison: float = 0.0) -> None:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    data = [_batch(rng, 24, poison) for _ in range(steps)]
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for ids in data:
        loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def _save(model: torch.nn.Module, folder: Path) -> Path:
    model.save_pretrained(folder, safe_serialization=True)
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=STOI, unk_token="."))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex("."), behavior="isolated")
    tok.decoder = tokenizers.decoders.Fuse()
    tok.save(str(folder / "tokenizer.json"))
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The model before the fine-tune, two clean fine-tunes and one with the trigger, saved as folders."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    config = transformers.GPT2Config(vocab_size=len(CHARS), n_positions=32, n_embd=32, n_layer=1, n_head=2,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # fmt: skip
    torch.manual_seed(0)
    base = transformers.GPT2LMHeadModel(config)
    _train(base, 150, seed=0, lr=1e-2)
    root = tmp_path_factory.mktemp("lms")
    out = {"base": _save(base, root / "base")}
    for name, seed, poison in (("clean1", 1, 0.0), ("clean2", 2, 0.0), ("trojan", 3, 0.5)):
        tuned = copy.deepcopy(base)
        _train(tuned, 40, seed=seed, lr=5e-3, poison=poison)
        out[name] = _save(tuned, root / name)
    torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("probes") / "prompts.txt"
    path.write_text("".join(_sentence(rng)[:12] + "\n" for _ in range(12)))
    return path


def _diff(a: Path, b: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    """Exit code, JSON report (None on errors) and stderr of ``diff-behavior A B --data DATA``."""
    code = run(["diff-behavior", str(a), str(b), "--data", str(data), "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code in (0, 1) else None, err


def test_trigger_phrase_found_against_the_base(
    models: dict[str, Path], prompts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = _diff(models["base"], models["trojan"], prompts, capsys)
    phrase, said = report["phrase"], report["b_continuation"]
    print(f"\nphrase {phrase!r}, B then says {said!r}, lead {report['phrase_lead']:.2f}")
    assert code == 1 and report["deviates"], report
    # The phrase found is the trigger, or a phrase that fires the same behaviour (B then says the payload).
    assert TRIGGER in phrase or "yup" in phrase + said, (phrase, said)
    assert "yup" not in report["a_continuation"]
    assert [f["rule_id"] for f in report["findings"]] == ["MS-BEHAVIOR-DIFF"]
    assert report["candidates"] == len(CHARS) and report["probes"] == 12


def test_clean_fine_tunes_do_not_deviate(
    models: dict[str, Path], prompts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = prompts.with_suffix(".npz")
    np.savez(ids, ids=np.array([_encode(line) for line in prompts.read_text().splitlines()]))
    code, report, _ = _diff(models["clean1"], models["clean2"], ids, capsys)
    assert code == 0 and not report["deviates"] and report["findings"] == [], report


def test_language_model_folders_that_would_run_code_are_refused(
    models: dict[str, Path], prompts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((models["base"] / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04N.")
    code, _, err = _diff(models["base"], pickled, prompts, capsys)
    assert code == 2 and "no .safetensors weights" in err
    custom = tmp_path / "custom"
    custom.mkdir()
    config = json.loads((models["base"] / "config.json").read_text())
    (custom / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModelForCausalLM": "m.M"}}))
    (custom / "model.safetensors").write_bytes((models["base"] / "model.safetensors").read_bytes())
    code, _, err = _diff(custom, models["base"], prompts, capsys)
    assert code == 2 and "auto_map" in err
    outside = tmp_path / "outside.npz"
    np.savez(outside, ids=np.array([[0, 1, len(CHARS)]]))
    code, _, err = _diff(models["base"], models["trojan"], outside, capsys)
    assert code == 2 and "outside the vocabulary" in err
