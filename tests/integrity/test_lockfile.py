"""modelseal.lock: pinning by content, and every way a model can drift from its pin."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from modelseal.core.errors import ConfigError
from modelseal.integrity.lockfile import (
    Lockfile,
    check_lock,
    check_mirror,
    lock_entry,
    read_lock,
    write_lock,
)
from modelseal.integrity.manifest import manifest_for
from modelseal.sources.hf import resolve_hf
from modelseal.sources.local import resolve_local

from .conftest import MODEL_FILES, build_hf_cache

REPO = "acme/tiny-bert"


def _lock(model: Path, lockfile: Path, **kw: str) -> None:
    art = resolve_local(str(model))
    write_lock(lockfile, Lockfile().with_entry(lock_entry("model", manifest_for(art), **kw)))


def _check(model: Path, lockfile: Path, **kw: str) -> list[tuple[str, str]]:
    entry = read_lock(lockfile).get("model")
    assert entry is not None
    result = check_lock(resolve_local(str(model)), entry, **kw)
    assert result.ok == (not result.differences)
    return [(d.kind, d.subject) for d in result.differences]


def test_roundtrip_is_toml_and_matches(model: Path, tmp_path: Path) -> None:
    lockfile = tmp_path / "modelseal.lock"
    _lock(model, lockfile, revision="abc", signer="key:00")
    text = lockfile.read_text()
    assert text.startswith("#") and "[[model]]" in text and '"tokenizer.json" = "sha256:' in text
    entry = read_lock(lockfile).get("model")
    assert entry is not None and entry.revision == "abc" and entry.signer == "key:00"
    assert _check(model, lockfile, signer="key:00") == []


def test_extra_file(model: Path, tmp_path: Path) -> None:
    _lock(model, tmp_path / "l")
    (model / "modeling_evil.py").write_text("import os\n")
    assert _check(model, tmp_path / "l") == [("added", "modeling_evil.py")]


def test_missing_file(model: Path, tmp_path: Path) -> None:
    _lock(model, tmp_path / "l")
    (model / "model-00002-of-00002.safetensors").unlink()
    assert _check(model, tmp_path / "l") == [("missing", "model-00002-of-00002.safetensors")]


def test_changed_tokenizer(model: Path, tmp_path: Path) -> None:
    _lock(model, tmp_path / "l")
    (model / "tokenizer.json").write_text('{"model": {"vocab": {"a": 1, "b": 0}}}')
    assert _check(model, tmp_path / "l") == [("changed", "tokenizer.json")]


def test_expected_signer_and_revision(model: Path, tmp_path: Path) -> None:
    _lock(model, tmp_path / "l", revision="1" * 40, signer="key:aa")
    assert _check(model, tmp_path / "l", revision="2" * 40, signer="key:aa") == [("revision", "2" * 40)]
    assert _check(model, tmp_path / "l", revision="1" * 40) == [("signer", "key:aa")]


def test_same_name_and_revision_other_weights(tmp_path: Path) -> None:
    """The hub (or a poisoned cache) serves the pinned commit with other weights: the lock names the file."""
    commit = "c0ffee" + "0" * 34
    build_hf_cache(tmp_path / "a", REPO, MODEL_FILES, commit=commit)
    origin = resolve_hf(f"hf://{REPO}", cache_dir=tmp_path / "a", offline=True)
    entry = lock_entry(origin.ref.source, manifest_for(origin.artifact), revision=origin.commit)
    swapped = dict(MODEL_FILES, **{"model-00001-of-00002.safetensors": os.urandom(5000)})
    build_hf_cache(tmp_path / "b", REPO, swapped, commit=commit)
    other = resolve_hf(f"hf://{REPO}@{commit}", cache_dir=tmp_path / "b", offline=True)
    assert other.commit == origin.commit
    result = check_lock(other.artifact, entry, revision=other.commit)
    assert [(d.kind, d.subject) for d in result.differences] == [
        ("changed", "model-00001-of-00002.safetensors")
    ]
    assert result.findings()[0].rule_id == "MS-LOCK-MISMATCH"
    assert result.findings()[0].file == "model-00001-of-00002.safetensors"


def test_symlink_leaving_the_cache(tmp_path: Path) -> None:
    snapshot = build_hf_cache(tmp_path / "hub", REPO, MODEL_FILES)
    assert snapshot.parents[2] == tmp_path / "hub"
    origin = resolve_hf(f"hf://{REPO}", cache_dir=tmp_path / "hub", offline=True)
    entry = lock_entry(origin.ref.source, manifest_for(origin.artifact), revision=origin.commit)
    # replace the config link with one to an identical file outside the cache: content equal, still refused
    outside = tmp_path / "config.json"
    outside.write_bytes(MODEL_FILES["config.json"])
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").symlink_to(outside)
    now = resolve_hf(f"hf://{REPO}", cache_dir=tmp_path / "hub", offline=True)
    result = check_lock(now.artifact, entry, revision=now.commit)
    assert [(d.kind, d.subject) for d in result.differences] == [
        ("rejected", "config.json"),
        ("missing", "config.json"),
    ]


def test_mirror_that_differs_from_its_origin(model: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(model, mirror)
    origin = resolve_local(str(model))
    assert check_mirror(resolve_local(str(mirror)), origin).ok
    (mirror / "config.json").write_text('{"architectures": ["BertModel"], "trust_remote_code": true}')
    result = check_mirror(resolve_local(str(mirror)), origin)
    assert [(d.kind, d.subject) for d in result.differences] == [("changed", "config.json")]
    # against the origin's lock entry, too
    entry = lock_entry("hf://acme/tiny-bert", manifest_for(origin), revision="1" * 40)
    assert not check_mirror(resolve_local(str(mirror)), entry).ok


def test_tampered_lock_entry_is_caught(model: Path, tmp_path: Path) -> None:
    lockfile = tmp_path / "l"
    _lock(model, lockfile)
    text = lockfile.read_text()
    lockfile.write_text(text.replace('manifest_digest = "sha256:', 'manifest_digest = "sha256:0', 1))
    assert ("entry", "model") in _check(model, lockfile)


@pytest.mark.parametrize(
    "text",
    ["version = 1\nmodel = 3\n", "version = 2\n", "version = 1\n[[model]]\nsource = 'x'\n", "not = [toml"],
)
def test_malformed_lockfile_is_a_config_error(tmp_path: Path, text: str) -> None:
    p = tmp_path / "modelseal.lock"
    p.write_text(text)
    with pytest.raises(ConfigError):
        read_lock(p)


def test_missing_lockfile_is_empty(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "absent.lock") == Lockfile()


def test_source_key() -> None:
    from modelseal.sources.resolve import source_key

    assert source_key("hf://acme/tiny-bert@v1") == "hf://acme/tiny-bert"
    assert source_key("./models/bert/") == "models/bert"
