"""Load a Hugging Face causal language model folder, and its probe prompts, through data formats only.

The weights are read from safetensors (never a pickled ``pytorch_model.bin``), the architecture comes from
transformers' own classes (a ``config.json`` asking for custom code through ``auto_map`` is refused, and
remote code is never trusted), and the tokenizer, when there is one, from ``tokenizer.json`` through the
``tokenizers`` library, which is a data file too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelseal.behavior.loading import MAX_MODEL_BYTES, BehaviorError, read_arrays
from modelseal.core.errors import LimitExceeded
from modelseal.core.extras import require

if TYPE_CHECKING:
    import numpy as np
    import torch

MAX_PROMPTS = 512
"""Most probe prompts read (each costs a forward pass per candidate token and phrase length)."""


@dataclass(frozen=True)
class LoadedLanguageModel:
    module: torch.nn.Module
    vocab_size: int
    tokenizer: Any
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json``, or None (token ids only)."""
    path: str

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.module(ids).logits
        return out

    def encode(self, text: str) -> list[int]:
        if self.tokenizer is None:
            raise BehaviorError(f"{self.path}: no tokenizer.json, so text cannot be encoded; give token ids")
        return list(self.tokenizer.encode(text).ids)

    def decode(self, ids: tuple[int, ...]) -> str:
        """The text of ``ids``, or the ids themselves without a tokenizer."""
        return str(self.tokenizer.decode(list(ids))) if self.tokenizer is not None else repr(list(ids))


def is_language_model(path: Path) -> bool:
    """A folder with a ``config.json``: what ``diff-behavior`` compares as language models."""
    return path.is_dir() and (path / "config.json").is_file()


def load_language_model(path: str | Path) -> LoadedLanguageModel:
    """Load a causal LM folder on the CPU in eval mode from safetensors; refuse custom code and pickles."""
    require("lm", "transformers", "tokenizers", feature=f"{path}: language models")
    import transformers

    p = Path(path)
    if not is_language_model(p):
        raise BehaviorError(f"{p}: not a model folder (no config.json)")
    try:
        config = json.loads((p / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BehaviorError(f"{p}/config.json: unreadable ({exc})") from None
    if not isinstance(config, dict) or "auto_map" in config:
        raise BehaviorError(f"{p}/config.json: asks for custom model code (auto_map), which is never run")
    weights = sorted(p.glob("*.safetensors"))
    if not weights:
        raise BehaviorError(f"{p}: no .safetensors weights (pickled weights are never loaded)")
    size = sum(w.stat().st_size for w in weights)
    if size > MAX_MODEL_BYTES:
        raise LimitExceeded(f"{p}: model size", MAX_MODEL_BYTES, size)
    try:
        module = transformers.AutoModelForCausalLM.from_pretrained(
            str(p), use_safetensors=True, local_files_only=True, trust_remote_code=False
        )
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... on unusable folders
        raise BehaviorError(f"{p}: not a loadable causal language model ({exc})") from None
    module.eval()  # type: ignore[no-untyped-call]
    tokenizer = None
    if (p / "tokenizer.json").is_file():
        import tokenizers

        try:
            tokenizer = tokenizers.Tokenizer.from_file(str(p / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises its own Exception subclass on bad files
            raise BehaviorError(f"{p}/tokenizer.json: unreadable ({exc})") from None
    return LoadedLanguageModel(module, int(module.config.vocab_size), tokenizer, str(p))


def load_token_ids(path: Path, model: LoadedLanguageModel, key: str) -> list[list[int]]:
    """Token id sequences from text (one per non-empty line, encoded with ``model``'s tokenizer) or from
    an ``.npz`` array ``key`` (rows of ids), each id checked against the vocabulary."""
    import numpy as np

    if path.suffix == ".npz":
        arr: np.ndarray = read_arrays(path, required=(key,), what=f"'{key}' (token ids)")[key]
        if not np.issubdtype(arr.dtype, np.integer) or arr.ndim not in (1, 2):
            raise BehaviorError(f"{path}: '{key}' must be integer token ids, one row each")
        rows = arr.reshape(len(arr), -1).tolist()
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BehaviorError(f"{path}: unreadable text ({exc})") from None
        rows = [model.encode(line) for line in text.splitlines() if line.strip()]
    rows = [r for r in rows if r][:MAX_PROMPTS]
    if not rows:
        raise BehaviorError(f"{path}: no token ids")
    if any(not 0 <= t < model.vocab_size for r in rows for t in r):
        raise BehaviorError(f"{path}: token ids outside the vocabulary of {model.vocab_size}")
    return rows
