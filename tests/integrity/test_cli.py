"""``modelseal sign / verify / lock``: exit codes and messages that name what differs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from modelseal.cli.integrity import register

from .conftest import MODEL_FILES, KeyMaker, build_hf_cache

app = typer.Typer()
register(app)


@app.callback()
def _root() -> None:  # keeps sub-commands named, as in the real root app
    pass


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_sign_then_verify_then_tamper(model: Path, make_key: KeyMaker, tmp_path: Path) -> None:
    priv, pub = make_key("p256")
    sig = tmp_path / "model.sig"
    assert run("sign", model, "--private-key", priv, "--signature", sig).exit_code == 0
    ok = run("verify", model, "--public-key", pub, "--signature", sig)
    assert ok.exit_code == 0, ok.output
    (model / "config.json").write_text("{}")
    bad = run("verify", model, "--public-key", pub, "--signature", sig)
    assert bad.exit_code == 1
    assert "changed: config.json" in bad.output


def test_wrong_key_names_both_keys(model: Path, make_key: KeyMaker, tmp_path: Path) -> None:
    priv, _ = make_key("p256")
    _, other = make_key("p384")
    sig = tmp_path / "model.sig"
    run("sign", model, "--private-key", priv, "--signature", sig)
    res = run("verify", model, "--public-key", other, "--signature", sig)
    assert res.exit_code == 1
    assert "signed by key" in res.output and str(other) in res.output


def test_nothing_to_check_is_a_usage_error(model: Path) -> None:
    assert run("verify", model).exit_code == 4


def test_unreadable_key_is_an_error(model: Path, tmp_path: Path) -> None:
    res = run("sign", model, "--private-key", tmp_path / "absent.pem", "--signature", tmp_path / "s")
    assert res.exit_code == 2 and "cannot read the private key" in res.output


def test_lock_then_verify_locked(model: Path, tmp_path: Path) -> None:
    lockfile = tmp_path / "modelseal.lock"
    assert run("lock", model, "--lockfile", lockfile).exit_code == 0
    assert run("verify", model, "--locked", "--lockfile", lockfile).exit_code == 0
    (model / "tokenizer.json").write_text('{"model": {}}')
    res = run("verify", model, "--locked", "--lockfile", lockfile)
    assert res.exit_code == 1 and "changed: tokenizer.json" in res.output


def test_unlocked_model_fails_locked_verification(model: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "w.bin").write_bytes(b"\0")
    assert run("lock", other, "--lockfile", tmp_path / "modelseal.lock").exit_code == 0
    res = run("verify", model, "--locked", "--lockfile", tmp_path / "modelseal.lock")
    assert res.exit_code == 1 and "no entry" in res.output


def test_mirror_check_against_the_origin_entry(model: Path, tmp_path: Path) -> None:
    lockfile = tmp_path / "modelseal.lock"
    run("lock", model, "--lockfile", lockfile)
    mirror = tmp_path / "mirror"
    shutil.copytree(model, mirror)
    assert (
        run("verify", mirror, "--locked", "--lockfile", lockfile, "--entry", model.as_posix()).exit_code == 0
    )
    (mirror / "extra.bin").write_bytes(b"\0")
    res = run("verify", mirror, "--locked", "--lockfile", lockfile, "--entry", model.as_posix())
    assert res.exit_code == 1 and "added: extra.bin" in res.output


def test_hf_lock_and_verify_offline(tmp_path: Path, make_key: KeyMaker) -> None:
    pytest.importorskip("huggingface_hub")
    cache = tmp_path / "hub"
    snapshot = build_hf_cache(cache, "acme/tiny-bert", MODEL_FILES)
    lockfile = tmp_path / "modelseal.lock"
    hf = ("--offline", "--cache-dir", cache)
    assert run("lock", "hf://acme/tiny-bert", "--lockfile", lockfile, *hf).exit_code == 0
    text = lockfile.read_text()
    assert 'source = "hf://acme/tiny-bert"' in text and f'revision = "{snapshot.name}"' in text
    priv, pub = make_key("p256")
    sig = tmp_path / "model.sig"
    assert run("sign", "hf://acme/tiny-bert", "--private-key", priv, "--signature", sig, *hf).exit_code == 0
    args = ("--locked", "--lockfile", lockfile, "--signature", sig, "--public-key", pub, *hf)
    ok = run("verify", "hf://acme/tiny-bert", *args)
    assert ok.exit_code == 0, ok.output
    # swap a weight blob in the cache: the cache record, the signature and the lock all name it
    (snapshot / "model-00001-of-00002.safetensors").resolve().write_bytes(os.urandom(5000))
    res = run("verify", "hf://acme/tiny-bert", *args)
    assert res.exit_code == 1
    assert res.output.count("changed: model-00001-of-00002.safetensors") == 3
