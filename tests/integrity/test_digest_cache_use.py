"""Which commands take digests from the digest cache: lock, sign and scan do; verify only when asked.

The cache is poisoned on purpose (a wrong digest under the file's current key) to show who consults it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from modelseal.cli.integrity import register
from modelseal.core import hashing
from modelseal.core.digestcache import ENV_PATH, DigestCache, FileKey
from modelseal.integrity.lockfile import read_lock
from modelseal.integrity.manifest import manifest_for
from modelseal.sources.hfcache import verify_snapshot
from modelseal.sources.resolve import resolve

from .conftest import MODEL_FILES, build_hf_cache

app = typer.Typer()
register(app)

FORGED = "0" * 64


@app.callback()
def _root() -> None:
    pass


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def _poison(path: Path) -> None:
    cache = DigestCache(Path(os.environ[ENV_PATH]), settle_ns=0)
    cache.put_many([(FileKey.of(path.stat()), "sha256", FORGED)])
    cache.close()


def test_verify_reads_the_files_unless_told_to_trust_the_cache(model: Path, tmp_path: Path) -> None:
    lockfile = tmp_path / "modelseal.lock"
    assert run("lock", model, "--lockfile", lockfile).exit_code == 0
    _poison(model / "config.json")
    ok = run("verify", model, "--locked", "--lockfile", lockfile)
    assert ok.exit_code == 0, ok.output
    trusting = run("verify", model, "--locked", "--lockfile", lockfile, "--trust-digest-cache")
    assert trusting.exit_code == 1 and "config.json" in trusting.output


def test_lock_uses_the_cache_unless_told_not_to(model: Path, tmp_path: Path) -> None:
    _poison(model / "config.json")
    lockfile = tmp_path / "modelseal.lock"
    assert run("lock", model, "--lockfile", lockfile, "--no-digest-cache").exit_code == 0
    real = f"sha256:{hashlib.sha256(MODEL_FILES['config.json']).hexdigest()}"
    assert dict(read_lock(lockfile).entries[0].files)["config.json"] == real
    assert run("lock", model, "--lockfile", lockfile).exit_code == 0
    assert dict(read_lock(lockfile).entries[0].files)["config.json"] == f"sha256:{FORGED}"


def test_the_environment_turns_the_cache_off(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _poison(model / "config.json")
    monkeypatch.setenv("MODELSEAL_NO_DIGEST_CACHE", "1")
    lockfile = tmp_path / "modelseal.lock"
    assert run("lock", model, "--lockfile", lockfile).exit_code == 0
    assert dict(read_lock(lockfile).entries[0].files)["config.json"] != f"sha256:{FORGED}"


def test_a_hub_cache_blob_is_verified_once_then_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = build_hf_cache(tmp_path / "hub", "org/model", MODEL_FILES)
    cache = DigestCache(tmp_path / "d.sqlite", settle_ns=0)
    artifact = resolve(str(snapshot)).artifact
    first = manifest_for(artifact, cache=cache)
    assert verify_snapshot(snapshot, digests=first.digests()).ok
    reads: list[Path] = []
    real = hashing._digest
    monkeypatch.setattr(hashing, "_digest", lambda p, *a: reads.append(p) or real(p, *a))  # type: ignore[func-returns-value]
    again = manifest_for(resolve(str(snapshot)).artifact, cache=cache)
    assert again.digest == first.digest and not reads  # known by the blob's own status, through the link
    blob = (snapshot / "model-00001-of-00002.safetensors").resolve()
    blob.write_bytes(b"altered")
    altered = manifest_for(resolve(str(snapshot)).artifact, cache=cache)
    assert reads == [snapshot / "model-00001-of-00002.safetensors"]
    assert not verify_snapshot(snapshot, digests=altered.digests()).ok
