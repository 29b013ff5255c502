"""What the gate, inventory and integration tests share: models they build and a CLI runner."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from modelseal.cli import gate as gate_cli

_HEADER = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
GOOD_FILES = {
    "config.json": b'{"model_type": "bert"}',
    "model.safetensors": struct.pack("<Q", len(_HEADER)) + _HEADER + b"\0" * 8,
}


def good_model(path: Path) -> Path:
    """A clean model folder: a config and a well-formed safetensors file."""
    path.mkdir(parents=True)
    for name, data in GOOD_FILES.items():
        (path / name).write_bytes(data)
    return path


def make_cache(root: Path, repo: str = "acme/tiny-bert", commit: str = "a" * 40) -> Path:
    """A hub cache laid out as huggingface_hub writes it: ``models--org--name/{blobs, refs/main,
    snapshots/<commit>}``, blobs named by content digest, snapshot files relative links to them."""
    repo_dir = root / f"models--{repo.replace('/', '--')}"
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True)
    for name, data in GOOD_FILES.items():
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snap), snap / name)
    return root


def bad_model(path: Path) -> Path:
    """A pickle that would call os.system('true') if loaded; modelseal only reads its opcodes."""
    path.mkdir(parents=True)
    (path / "model.pkl").write_bytes(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
    return path


def run_cli(*args: str, stdout_only: bool = False) -> tuple[int, str]:
    """This area's commands on a root app of their own: exit code and stdout (+ stderr unless stdout_only)."""
    app = typer.Typer()
    gate_cli.register(app)
    app.callback()(lambda: None)
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout if stdout_only else result.stdout + result.stderr


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in ``tmp_path`` with an audit log of its own and no policy or audit key from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELSEAL_AUDIT_LOG", str(tmp_path / "audit.sqlite"))
    monkeypatch.delenv("MODELSEAL_AUDIT_KEY", raising=False)
    monkeypatch.delenv("MODELSEAL_POLICY", raising=False)
