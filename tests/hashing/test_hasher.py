"""The shared hasher: serial, parallel, sharded and BLAKE3-threaded digests equal the reference ones."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from modelseal.core import hashing
from modelseal.core.hashing import BUFFER, Range, hash_bytes, hash_file, hash_range, hash_ranges, shard_ranges
from modelseal.integrity.oms import Serialization, statement_for
from modelseal.sources.resolve import resolve

ODD_SIZES = [0, 1, 7, BUFFER - 1, BUFFER, BUFFER + 1, 3 * BUFFER + 7, 1_000_003]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, bytes]:
    root = tmp_path_factory.mktemp("odd")
    out = {}
    for size in ODD_SIZES:
        data = os.urandom(size)
        path = root / f"f{size}.bin"
        path.write_bytes(data)
        out[path] = data
    return out


def test_whole_files_equal_hashlib_serial_and_parallel(files: dict[Path, bytes]) -> None:
    expected = [f"sha256:{hashlib.sha256(d).hexdigest()}" for d in files.values()]
    ranges = [Range(p, 0, None, len(d)) for p, d in files.items()]
    assert [hash_file(p) for p in files] == expected
    assert hash_ranges(ranges, workers=1) == expected
    assert hash_ranges(ranges, workers=4) == expected
    assert [hash_bytes(d) for d in files.values()] == expected


@pytest.mark.parametrize("shard", [1, 4093, BUFFER + 3, 1_000_000])
def test_shards_equal_hashlib_of_each_slice(files: dict[Path, bytes], shard: int) -> None:
    path, data = max(files.items(), key=lambda kv: len(kv[1]))
    ranges = shard_ranges(path, len(data), shard)[:300]
    got = hash_ranges(ranges, workers=3)
    want = [f"sha256:{hashlib.sha256(data[r.start : r.end]).hexdigest()}" for r in ranges]
    assert got == want
    assert ranges[-1].end == min(len(data), 300 * shard)


def test_prefix_hashes_a_git_blob(files: dict[Path, bytes]) -> None:
    path, data = next((p, d) for p, d in files.items() if len(d) == BUFFER + 1)
    header = b"blob %d\0" % len(data)
    assert (
        hash_range(path, algorithm="sha1", prefix=header) == f"sha1:{hashlib.sha1(header + data).hexdigest()}"
    )


def test_blake3_threaded_equals_blake3_of_the_bytes(
    files: dict[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    blake3 = pytest.importorskip("blake3").blake3
    monkeypatch.setattr(hashing, "BLAKE3_THREADED_BYTES", 1000)  # the threaded path on small files
    monkeypatch.setattr(hashing, "BLAKE3_BUFFER", 300_007)  # and an odd buffer
    for path, data in files.items():
        assert hash_file(path, "blake3") == f"blake3:{blake3(data).hexdigest()}"


def test_a_file_that_shrinks_under_a_shard_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    with pytest.raises(Exception, match="shrank"):
        hash_range(path, 0, 200)


def test_sign_files_and_shards_over_the_shared_hasher(tmp_path: Path) -> None:
    data = os.urandom(2 * BUFFER + 5)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_bytes(data)
    artifact = resolve(str(tmp_path / "m")).artifact
    files = statement_for(artifact, Serialization("files")).digests()
    assert files == {"w.bin": f"sha256:{hashlib.sha256(data).hexdigest()}"}
    shards = statement_for(artifact, Serialization("shards", shard_size=BUFFER)).digests()
    assert shards[f"w.bin:{BUFFER}:{2 * BUFFER}"].endswith(
        hashlib.sha256(data[BUFFER : 2 * BUFFER]).hexdigest()
    )
    assert len(shards) == 3
