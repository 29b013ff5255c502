"""Folder walking, including Hugging Face cache snapshots whose files are links into the blob store."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from modelseal.api import scan
from modelseal.sources.local import resolve_local


def make_cache_repo(cache: Path, repo: str, files: dict[str, bytes], revision: str = "a" * 40) -> Path:
    """Lay files out as huggingface_hub's cache does: blobs named by sha256, snapshot links to them."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "blobs").mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(revision)
    snapshot = root / "snapshots" / revision
    for name, data in files.items():
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def test_cache_snapshot_links_are_followed(tmp_path: Path) -> None:
    snapshot = make_cache_repo(
        tmp_path, "org/model", {"config.json": b"{}", "sub/weights.pkl": pickle.dumps([1])}
    )
    artifact = resolve_local(str(snapshot))
    assert [f.relpath for f in artifact.files] == ["config.json", "sub/weights.pkl"]
    assert artifact.rejected == ()
    result = scan([snapshot])
    assert {r.path: r.format for r in result.targets[0].files} == {
        "config.json": "text",
        "sub/weights.pkl": "pickle",
    }
    digest = next(r.digest for r in result.targets[0].files if r.path == "sub/weights.pkl")
    assert digest == "sha256:" + hashlib.sha256(pickle.dumps([1])).hexdigest()


def test_cache_link_leaving_the_cache_is_refused(tmp_path: Path) -> None:
    snapshot = make_cache_repo(tmp_path / "cache", "org/model", {"config.json": b"{}"})
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(b"x")
    (snapshot / "weights.bin").symlink_to(outside)
    artifact = resolve_local(str(snapshot))
    assert [r for r, _ in artifact.rejected] == ["weights.bin"]


def test_single_file_target(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    artifact = resolve_local(str(path))
    assert [(f.relpath, f.size) for f in artifact.files] == [("m.pkl", path.stat().st_size)]
