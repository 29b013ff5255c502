from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelseal.core import hashing as h
from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.errors import ModelsealError
from modelseal.integrity import manifest as m
from modelseal.sources.local import resolve_local


def test_hash_file_matches_hashlib_across_buffer_boundaries(tmp_path: Path) -> None:
    data = bytes(range(256)) * (h.BUFFER // 256 * 3 + 7)  # several buffers and a tail
    p = tmp_path / "w.bin"
    p.write_bytes(data)
    assert h.hash_file(p) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (
        h.hash_range(p, 1000, h.BUFFER + 5)
        == "sha256:" + hashlib.sha256(data[1000 : h.BUFFER + 5]).hexdigest()
    )


def test_blake3_option(tmp_path: Path) -> None:
    blake3 = pytest.importorskip("blake3")
    p = tmp_path / "w.bin"
    p.write_bytes(b"x" * 100_000)
    assert h.hash_file(p, "blake3") == "blake3:" + blake3.blake3(b"x" * 100_000).hexdigest()


def test_unknown_algorithm_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"")
    with pytest.raises(ModelsealError, match="unknown hash algorithm"):
        h.hash_file(p, "md99")


def test_shards_cover_the_file_exactly(tmp_path: Path) -> None:
    p = tmp_path / "w.bin"
    p.write_bytes(b"a" * 2500)
    ranges = h.shard_ranges(p, 2500, 1000)
    assert [(r.start, r.end) for r in ranges] == [(0, 1000), (1000, 2000), (2000, 2500)]
    assert h.shard_ranges(p, 0, 1000) == []


def test_parallel_hashing_equals_sequential(tmp_path: Path) -> None:
    paths = []
    for i in range(6):
        p = tmp_path / f"f{i}"
        p.write_bytes(bytes([i]) * (i * 70_000 + 1))
        paths.append(p)
    ranges = [h.Range(p, 0, None, p.stat().st_size) for p in paths]
    assert h.hash_ranges(ranges, workers=4) == [h.hash_file(p) for p in paths]
    assert h.hash_ranges(ranges, workers=1) == [h.hash_file(p) for p in paths]


def test_range_past_end_of_a_shrunk_file_fails_closed(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    with pytest.raises(ModelsealError, match="shrank"):
        h.hash_range(p, 0, 10)


def test_manifest_lists_ignored_paths_and_hashes_gitattributes(model: Path) -> None:
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    man = m.manifest_for(resolve_local(str(model)))
    names = [f.relpath for f in man.files]
    assert ".gitattributes" in names
    assert ".git/HEAD" not in names
    assert man.ignored == (".git/HEAD",)
    assert man.digest == m.manifest_digest([(f.relpath, f.digest) for f in man.files])


def test_manifest_reuses_digests_already_on_the_artifact(tmp_path: Path) -> None:
    p = tmp_path / "a"
    p.write_bytes(b"content")
    known = "sha256:" + "0" * 64  # deliberately not the real digest: proves it was reused, not recomputed
    art = Artifact(tmp_path, (FileEntry("a", p, 7, known),))
    assert m.manifest_for(art).files[0].digest == known
    # another algorithm cannot reuse it
    assert m.manifest_for(art, "sha512").files[0].digest == "sha512:" + hashlib.sha512(b"content").hexdigest()


def test_manifest_digest_binds_names(model: Path) -> None:
    before = m.manifest_for(resolve_local(str(model))).digest
    (model / "config.json").rename(model / "config2.json")
    assert m.manifest_for(resolve_local(str(model))).digest != before
