"""Hugging Face cache snapshots laid out with huggingface_hub's conventions, resolved and checked offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelseal.core.errors import SourceError
from modelseal.sources.hf import parse_hf, resolve_hf, verify_snapshot

from .conftest import MODEL_FILES, build_hf_cache

hub = pytest.importorskip("huggingface_hub")

REPO = "acme/tiny-bert"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "hub"


def test_layout_is_what_huggingface_hub_sees(cache: Path) -> None:
    snapshot = build_hf_cache(cache, REPO, MODEL_FILES)
    info = hub.scan_cache_dir(cache)
    assert not info.warnings
    (repo,) = info.repos
    assert repo.repo_id == REPO
    (rev,) = repo.revisions
    assert rev.commit_hash == snapshot.name and rev.refs == frozenset({"main"})
    assert {f.file_name for f in rev.files} == {Path(p).name for p in MODEL_FILES}


def test_resolve_offline_through_huggingface_hub(cache: Path) -> None:
    snapshot = build_hf_cache(cache, REPO, MODEL_FILES)
    resolved = resolve_hf(f"hf://{REPO}", cache_dir=cache, offline=True)
    assert resolved.commit == snapshot.name
    assert resolved.ref.source == f"hf://{REPO}"
    assert resolved.artifact.source == f"hf://{REPO}"
    assert sorted(e.relpath for e in resolved.artifact.files) == sorted(MODEL_FILES)
    assert resolved.artifact.rejected == ()
    by_commit = resolve_hf(f"hf://{REPO}@{snapshot.name}", cache_dir=cache, offline=True)
    assert by_commit.commit == snapshot.name


def test_unknown_repo_offline_is_a_source_error(cache: Path) -> None:
    cache.mkdir()
    with pytest.raises(SourceError, match="not in the Hugging Face cache"):
        resolve_hf("hf://acme/absent", cache_dir=cache, offline=True)


def test_parse_rejects_bad_ids() -> None:
    assert parse_hf("hf://org/name@v1.0").revision == "v1.0"
    for bad in ("hf://org/na me", "hf://org/name@", "hf://a/b/c"):
        with pytest.raises(SourceError):
            parse_hf(bad)


def test_cache_record_verifies_then_catches_a_swapped_blob(cache: Path) -> None:
    snapshot = build_hf_cache(cache, REPO, MODEL_FILES)
    check = verify_snapshot(snapshot)
    assert check.ok and check.checked == len(MODEL_FILES) and check.unverifiable == ()
    # an LFS blob (named by SHA-256) and a git blob (named by git SHA-1) changed in place
    (snapshot / "model-00002-of-00002.safetensors").resolve().write_bytes(os.urandom(3000))
    (snapshot / "tokenizer.json").resolve().write_bytes(b'{"model": {"vocab": {"evil": 0}}}')
    check = verify_snapshot(snapshot)
    assert [(d.kind, d.subject) for d in check.differences] == [
        ("changed", "model-00002-of-00002.safetensors"),
        ("changed", "tokenizer.json"),
    ]
    assert [(f.rule_id, f.file) for f in check.findings()] == [
        ("MS-HF-CACHE-MISMATCH", "model-00002-of-00002.safetensors"),
        ("MS-HF-CACHE-MISMATCH", "tokenizer.json"),
    ]


def test_link_leaving_the_cache_is_refused(cache: Path, tmp_path: Path) -> None:
    snapshot = build_hf_cache(cache, REPO, MODEL_FILES)
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").symlink_to(outside)
    check = verify_snapshot(snapshot)
    assert [(d.kind, d.subject) for d in check.differences] == [("rejected", "config.json")]
    assert [f.rule_id for f in check.findings()] == ["MS-FILE-LINK-ESCAPE"]
    resolved = resolve_hf(f"hf://{REPO}", cache_dir=cache, offline=True)
    assert [rel for rel, _ in resolved.artifact.rejected] == ["config.json"]


def test_plain_file_in_a_snapshot_is_unverifiable(cache: Path) -> None:
    snapshot = build_hf_cache(cache, REPO, MODEL_FILES)
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").write_text("{}")
    check = verify_snapshot(snapshot)
    assert check.ok and check.unverifiable == ("config.json",)


def test_not_a_snapshot(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a Hugging Face cache snapshot"):
        verify_snapshot(tmp_path)
