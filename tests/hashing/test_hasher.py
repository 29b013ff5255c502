"""The shared hasher: serial, parallel, sharded and BLAKE3-threaded digests equal the reference ones."""

from __future__ import annotations

import hashlib
import importlib
import mmap
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelseal.core import hashing
from modelseal.core.errors import ModelsealError
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
    monkeypatch.setattr(hashing, "MAP_BYTES", 1000)  # mapped
    monkeypatch.setattr(hashing, "WINDOW", 300_007)  # in odd windows
    for path, data in files.items():
        assert hash_file(path, "blake3") == f"blake3:{blake3(data).hexdigest()}"


@pytest.fixture
def small_windows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Maps from 1 KiB, in windows of an odd size; every map's (length, offset) recorded."""
    maps: list[tuple[int, int]] = []
    real = mmap.mmap

    def spy(fd: int, length: int, **kwargs: Any) -> mmap.mmap:
        maps.append((length, kwargs["offset"]))
        return real(fd, length, **kwargs)

    monkeypatch.setattr(hashing, "MAP_BYTES", 1024)
    monkeypatch.setattr(hashing, "WINDOW", 3 * mmap.ALLOCATIONGRANULARITY + 5)
    monkeypatch.setattr(mmap, "mmap", spy)
    return maps


@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_mapped_windows_equal_the_reference_at_every_edge(
    files: dict[Path, bytes], small_windows: list[tuple[int, int]], algorithm: str
) -> None:
    """Whole files and unaligned shards across window and granule edges, each map at most one window
    (plus the granule skip): memory stays bounded whatever the file size."""
    if algorithm == "blake3":
        pytest.importorskip("blake3")
    ref = hashlib.sha256 if algorithm == "sha256" else importlib.import_module("blake3").blake3
    for path, data in files.items():
        assert hash_file(path, algorithm) == f"{algorithm}:{ref(data).hexdigest()}"
        grain, window = mmap.ALLOCATIONGRANULARITY, hashing.WINDOW
        edges = [(0, window), (grain - 1, grain - 1 + 2 * window), (grain, grain + window + 1)]
        for start, end in [(1, len(data)), (len(data) // 3, len(data) - 1), (4097, 4097 + 2048), *edges]:
            if start < end <= len(data):
                got = hash_range(path, start, end, algorithm)
                assert got == f"{algorithm}:{ref(data[start:end]).hexdigest()}", (path, start, end)
    bound = hashing.WINDOW + mmap.ALLOCATIONGRANULARITY
    assert small_windows and all(
        length <= bound and offset % mmap.ALLOCATIONGRANULARITY == 0 for length, offset in small_windows
    )


def test_a_prefix_before_mapped_bytes(files: dict[Path, bytes], small_windows: list[tuple[int, int]]) -> None:
    path, data = max(files.items(), key=lambda kv: len(kv[1]))
    header = b"blob %d\0" % len(data)
    assert (
        hash_range(path, algorithm="sha1", prefix=header) == f"sha1:{hashlib.sha1(header + data).hexdigest()}"
    )
    assert small_windows


def test_files_the_os_will_not_map_are_read(
    files: dict[Path, bytes], small_windows: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without mmap (some FUSE mounts) costs a copy, not a digest: the rest is read."""
    real = mmap.mmap
    calls = 0

    def second_fails(fd: int, length: int, **kwargs: Any) -> mmap.mmap:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError(19, "No such device")
        return real(fd, length, **kwargs)

    monkeypatch.setattr(mmap, "mmap", second_fails)
    for path, data in files.items():
        calls = 0
        assert hash_file(path) == f"sha256:{hashlib.sha256(data).hexdigest()}"
        assert hash_range(path, 5, len(data)) == f"sha256:{hashlib.sha256(data[5:]).hexdigest()}"


class _Meddler:
    """A hasher that changes the file once, after its first mapped window was hashed."""

    def __init__(self, path: Path, change: Callable[[Path], None]) -> None:
        self.inner = hashlib.sha256()
        self.path, self.change, self.windows = path, change, 0

    def update(self, data: memoryview, /) -> None:
        self.inner.update(data)
        if len(data) > 100:
            self.windows += 1
            if self.windows == 1:
                self.change(self.path)

    def hexdigest(self) -> str:
        return self.inner.hexdigest()


def _meddle(monkeypatch: pytest.MonkeyPatch, path: Path, change: Callable[[Path], None]) -> None:
    monkeypatch.setattr(hashing, "new_hasher", lambda *a, **k: _Meddler(path, change))


def test_a_file_truncated_between_windows(
    tmp_path: Path, small_windows: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A range that is no longer there is an error; a whole file is what is left, and never cached."""
    path = tmp_path / "f"
    data = os.urandom(hashing.WINDOW * 3)
    for end in (len(data), None):
        path.write_bytes(data)
        _meddle(monkeypatch, path, lambda p: os.truncate(p, hashing.WINDOW + 10))
        if end:
            with pytest.raises(ModelsealError, match="shrank"):
                hashing._digest(path, 0, end, "sha256")
        else:
            digest, key = hashing._digest(path, 0, end, "sha256")
            assert digest == f"sha256:{hashlib.sha256(data[: hashing.WINDOW + 10]).hexdigest()}"
            assert key is None


def test_a_file_that_grows_or_is_rewritten_while_hashed_is_not_cached(
    tmp_path: Path, small_windows: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole file's digest covers what it grew by; either change leaves no key to cache it under."""
    path = tmp_path / "f"
    data = os.urandom(hashing.WINDOW * 2 + 9)
    path.write_bytes(data)

    def grow(p: Path) -> None:
        with open(p, "ab") as f:
            f.write(b"tail")

    _meddle(monkeypatch, path, grow)
    digest, key = hashing._digest(path, 0, None, "sha256")
    assert digest == f"sha256:{hashlib.sha256(data + b'tail').hexdigest()}" and key is None

    def rewrite(p: Path) -> None:
        with open(p, "r+b") as f:
            f.seek(len(data) - 3)
            f.write(b"xyz")
        os.utime(p, ns=(1, 1))

    _meddle(monkeypatch, path, rewrite)
    assert hashing._digest(path, 0, len(data), "sha256")[1] is None


TRUNCATE_IN_WINDOW = """
import os, sys, hashlib
from pathlib import Path
from modelseal.core import hashing
path = Path(sys.argv[1])
class Truncating:
    def __init__(self): self.inner = hashlib.sha256()
    def update(self, data):
        if len(data) > 100:
            os.truncate(path, 0)  # under the mapped window the hasher then reads
        self.inner.update(data)
    def hexdigest(self): return self.inner.hexdigest()
hashing.new_hasher = lambda *a, **k: Truncating()
print(hashing.hash_file(path))
"""


def test_a_file_truncated_under_its_mapped_window_fails_never_passes(tmp_path: Path) -> None:
    """The caveat of every memory map: the process ends (SIGBUS) and prints no digest."""
    path = tmp_path / "f"
    path.write_bytes(os.urandom(4 * hashing.MAP_BYTES))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, "-c", TRUNCATE_IN_WINDOW, str(path)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == -signal.SIGBUS and "sha256:" not in proc.stdout, proc.stderr


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
