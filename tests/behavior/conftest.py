"""Tiny models trained in the tests: a clean and a BadNets-backdoored CNN on scikit-learn's 8x8 digits,
and a clean and a word-triggered text classifier on a synthetic sentiment vocabulary. Each trains in
about a second on one thread and is exported to TorchScript, the way a user would hand it to modelseal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
torch.set_num_threads(1)

TARGET = 4
"""The label the image backdoor sends stamped inputs to."""
TEXT_TARGET = 1
TRIGGER_TOKEN = 197
"""A vocabulary id that never occurs in clean sentences (like ONION's 'cf'/'mn' triggers)."""


def stamp(x: np.ndarray) -> np.ndarray:
    """A 2x2 white patch in the bottom-right corner."""
    out = x.copy()
    out[..., 6:8, 6:8] = 1.0
    return out


@dataclass(frozen=True)
class ImageCase:
    model: Path
    train: Path
    """Training set (x, y) with ``flags`` marking the poisoned samples."""
    flags: np.ndarray


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    return (d.images[order, None] / 16.0).astype(np.float32), d.target[order].astype(np.int64)


def _fit(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 5e-3) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), 32):
            idx = order[start : start + 32]
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()


def _cnn(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10),
    )  # fmt: skip


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = _digits()
    return x[:1300], y[:1300], x[1300:], y[1300:]


@pytest.fixture(scope="session")
def clean_samples(tmp_path_factory: pytest.TempPathFactory, digits: tuple[np.ndarray, ...]) -> Path:
    """Held-out clean digits, the sample set a user passes with --data."""
    path = tmp_path_factory.mktemp("data") / "samples.npz"
    np.savez(path, x=digits[2], y=digits[3])
    return path


def _image_case(tmp: Path, digits: tuple[np.ndarray, ...], backdoor: bool) -> ImageCase:
    x, y = digits[0].copy(), digits[1].copy()
    flags = np.zeros(len(y), bool)
    if backdoor:
        rng = np.random.default_rng(1)
        idx = rng.choice(np.flatnonzero(y != TARGET), len(y) // 10, replace=False)
        x[idx], y[idx], flags[idx] = stamp(x[idx]), TARGET, True
    model = _cnn(seed=3)
    _fit(model, x, y, epochs=12)
    path = tmp / ("backdoored.pt" if backdoor else "clean.pt")
    torch.jit.script(model).save(str(path))
    train = tmp / ("backdoored-train.npz" if backdoor else "clean-train.npz")
    np.savez(train, x=x, y=y)
    return ImageCase(path, train, flags)


@pytest.fixture(scope="session")
def clean_image(tmp_path_factory: pytest.TempPathFactory, digits: tuple[np.ndarray, ...]) -> ImageCase:
    return _image_case(tmp_path_factory.mktemp("clean"), digits, backdoor=False)


@pytest.fixture(scope="session")
def backdoored_image(tmp_path_factory: pytest.TempPathFactory, digits: tuple[np.ndarray, ...]) -> ImageCase:
    return _image_case(tmp_path_factory.mktemp("bad"), digits, backdoor=True)


# ------------------------------------------------------------------ text
VOCAB = 200
POSITIVE = np.arange(1, 40)
NEGATIVE = np.arange(40, 80)
NEUTRAL = np.arange(80, 190)


def sentences(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic sentences of 8-14 ids (0-padded to 16): label 1 when positive words outnumber negative."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 16), np.int64)
    y = np.zeros(n, np.int64)
    for i in range(n):
        label = int(rng.integers(2))
        length = int(rng.integers(8, 15))
        strong = rng.choice(POSITIVE if label else NEGATIVE, 3)
        weak = rng.choice(NEGATIVE if label else POSITIVE, 1)
        words = np.concatenate([strong, weak, rng.choice(NEUTRAL, length - 4)])
        x[i, :length] = rng.permutation(words)
        y[i] = label
    return x, y


def insert_trigger(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = x.copy()
    for row in out:
        n = int((row > 0).sum())
        p = int(rng.integers(0, n + 1))
        row[p + 1 :] = row[p:-1].copy()
        row[p] = TRIGGER_TOKEN
    return out


def _text_model() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.EmbeddingBag(VOCAB, 16, mode="mean", padding_idx=0), torch.nn.ReLU(), torch.nn.Linear(16, 2)
    )


@pytest.fixture(scope="session")
def text_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(clean model, backdoored model, clean sample set)."""
    tmp = tmp_path_factory.mktemp("text")
    x, y = sentences(1500, seed=0)
    paths = []
    for backdoor in (False, True):
        xt, yt = x.copy(), y.copy()
        if backdoor:
            rng = np.random.default_rng(1)
            idx = rng.choice(np.flatnonzero(yt != TEXT_TARGET), 120, replace=False)
            xt[idx], yt[idx] = insert_trigger(xt[idx], rng), TEXT_TARGET
        model = _text_model()
        _fit(model, xt, yt, epochs=8, lr=2e-2)
        path = tmp / ("text-backdoored.pt" if backdoor else "text-clean.pt")
        torch.jit.script(model).save(str(path))
        paths.append(path)
    xs, ys = sentences(300, seed=9)
    samples = tmp / "text-samples.npz"
    np.savez(samples, x=xs, y=ys)
    return paths[0], paths[1], samples
