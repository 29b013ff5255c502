"""Model folders built by code: a plain folder, and a snapshot laid out as huggingface_hub's cache."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from pathlib import Path

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"

REALISTIC_CARD = """---
license: apache-2.0
base_model: acme-labs/tiny-base
datasets:
  - acme-labs/tiny-corpus
  - wikitext
language:
  - en
library_name: transformers
pipeline_tag: text-generation
tags:
  - llama
model-index:
  - name: tiny-llama-2m
    results:
      - task:
          type: text-generation
        dataset:
          name: wikitext
          type: wikitext
        metrics:
          - type: perplexity
            value: 42.1
---
# tiny-llama-2m

A two-million-parameter llama for tests.
"""

APACHE_TEXT = "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n"


def safetensors_bytes(tensors: Mapping[str, list[int]]) -> bytes:
    """A valid safetensors file with zero-filled float32 tensors of the given shapes."""
    header: dict[str, object] = {}
    offset = 0
    for name, shape in tensors.items():
        size = 4
        for d in shape:
            size *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


LLAMA_TENSORS = {
    "model.embed_tokens.weight": [1000, 1000],
    "model.layers.0.mlp.up_proj.weight": [1000, 1000],
}
"""Two million parameters, laid out the way llama checkpoints name them."""


def write_model(folder: Path, files: Mapping[str, bytes | str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


def realistic_files() -> dict[str, bytes | str]:
    return {
        "README.md": REALISTIC_CARD,
        "LICENSE": APACHE_TEXT,
        "config.json": json.dumps(
            {
                "model_type": "llama",
                "architectures": ["LlamaForCausalLM"],
                "_name_or_path": "acme-labs/tiny-base",
            }
        ),
        "model.safetensors": safetensors_bytes(LLAMA_TENSORS),
        "tokenizer.json": json.dumps({"version": "1.0"}),
    }


def write_hub_cache(
    cache: Path, model_id: str, files: Mapping[str, bytes | str], commit: str = COMMIT
) -> Path:
    """``models--org--name/{blobs,refs,snapshots}`` with snapshot files linked to blobs named by digest."""
    repo = cache / f"models--{model_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    for rel, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        digest = hashlib.sha256(data).hexdigest()
        blob = repo / "blobs" / digest
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../" * (rel.count("/") + 2)) / "blobs" / digest)
    return snapshot


@pytest.fixture
def realistic_model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "tiny-llama-2m", realistic_files())


@pytest.fixture
def cached_model(tmp_path: Path) -> Path:
    return write_hub_cache(tmp_path / "hub", "acme-labs/tiny-llama-2m", realistic_files())
