"""Stored zip members are read in place only where their span is sound (zipspans), and the zip scanner
reports every span that is not."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from modelseal.core.artifact import FileEntry
from modelseal.core.limits import Limits
from modelseal.scanners.weights import _measure_all, _torch_zip
from modelseal.scanners.zipspans import member_spans
from tests.formats.helpers import findings

_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")


def _local(name: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data)
    return _LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0) + name


def _raw_zip(entries: list[tuple[bytes, int, bytes]], body: bytes) -> bytes:
    """A zip of ``body`` whose central directory lists ``entries`` (name, local header offset, data)."""
    central = b"".join(
        _CENTRAL.pack(
            b"PK\x01\x02", 20, 20, 0, 0, 0, 0, zlib.crc32(d), len(d), len(d), len(n), 0, 0, 0, 0, 0, at
        )
        + n
        for n, at, d in entries
    )
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(body), 0
    )
    return body + central + end


def _overlapping(tmp_path: Path) -> Path:
    """``archive/data/0`` whose stored bytes hold the whole of member ``archive/data/1``."""
    inner_name, inner = b"archive/data/1", np.ones(4, "<f4").tobytes()
    inner_member = _local(inner_name, inner) + inner
    outer_name = b"archive/data/0"
    body = _local(outer_name, inner_member) + inner_member
    path = tmp_path / "overlap.zip"
    at = _LOCAL.size + len(outer_name)
    path.write_bytes(_raw_zip([(outer_name, 0, inner_member), (inner_name, at, inner)], body))
    return path


def test_overlapping_members_are_not_read_in_place(tmp_path: Path) -> None:
    path = _overlapping(tmp_path)
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        spans = member_spans(f, zf.infolist())
    assert [s.in_place for s in spans] == [False, False]
    assert all("overlap" in s.problem for s in spans)
    hits = [f for f in findings(path) if f.rule_id == "MS-ZIP-HEADER-MISMATCH"]
    assert {f.location.member for f in hits} == {"archive/data/0", "archive/data/1"}


def test_member_running_past_the_end_is_a_problem(tmp_path: Path) -> None:
    name, declared = b"a.bin", b"x" * 4096  # both headers declare 4096 bytes; 64 are there
    path = tmp_path / "cut.zip"
    path.write_bytes(_raw_zip([(name, 0, declared)], _local(name, declared) + declared[:64]))
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        (span,) = member_spans(f, zf.infolist())
    assert not span.in_place
    assert "past the end" in span.problem


def test_storages_read_in_place_match_their_values(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = {"a": torch.randn(8, 8), "b": torch.randn(16).half(), "c": torch.arange(5)}
    path = tmp_path / "model.pt"
    torch.save(state, path)
    entry = FileEntry("model.pt", path, path.stat().st_size)
    measured = {m.tensor: m.stats for m in _torch_zip(_measure_all(np), entry, Limits())}
    assert set(measured) == {"storage 0", "storage 1"}  # the int64 storage has no float statistics
    for key, tensor in (("storage 0", state["a"]), ("storage 1", state["b"])):
        values = tensor.float().numpy().ravel()
        assert measured[key].count == values.size
        assert np.isclose(measured[key].mean, values.astype(np.float64).mean())


def test_header_offset_outside_the_file_is_a_problem(tmp_path: Path) -> None:
    name, data = b"a.bin", b"x" * 16
    path = tmp_path / "before.zip"
    path.write_bytes(_raw_zip([(name, 0, data)], _local(name, data) + data))
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        infos[0].header_offset = -2  # as zipfile computes it for a directory that claims too much
        (span,) = member_spans(f, infos)
    assert not span.in_place
    assert "outside the file" in span.problem


class _Unseekable:
    """A write-only stream without seek/tell, as a pipe or socket is: zipfile then writes data descriptors."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)

    def flush(self) -> None:
        pass


def test_data_descriptors_are_no_mismatch(tmp_path: Path) -> None:
    """Flag bit 3 with zero sizes in the local headers is what zipfile writes to a stream it cannot seek:
    normal, so no header finding, and stored members are still read in place."""
    import io

    array = io.BytesIO()
    np.save(array, np.arange(6.0))
    out = _Unseekable()
    with zipfile.ZipFile(out, "w") as zf:  # type: ignore[call-overload]
        zf.writestr("a.npy", array.getvalue())
        zf.writestr("b.npy", array.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    path = tmp_path / "streamed.npz"
    path.write_bytes(bytes(out.data))
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        spans = member_spans(f, zf.infolist())
        assert all(s.info.flag_bits & 0x08 for s in spans)
    assert [(s.problem, s.in_place) for s in spans] == [("", True), ("", False)]
    assert not [f for f in findings(path) if f.rule_id == "MS-ZIP-HEADER-MISMATCH"]


def test_stored_member_with_two_sizes_is_a_problem(tmp_path: Path) -> None:
    """Both headers agree, but a stored member's sizes differ: zipfile and torch read different lengths."""
    name, data = b"a.bin", b"x" * 16
    raw = bytearray(_raw_zip([(name, 0, data)], _local(name, data) + data))
    struct.pack_into("<I", raw, 18, 4)  # compressed size, local header
    struct.pack_into("<I", raw, len(_local(name, data)) + len(data) + 20, 4)  # and central
    path = tmp_path / "sizes.zip"
    path.write_bytes(bytes(raw))
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        (span,) = member_spans(f, zf.infolist())
    assert "sizes differ" in span.problem


def test_statistics_never_read_a_directory_past_the_member_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zip scanner reports such a checkpoint; its statistics are skipped, without zipfile reading the
    directory whole (an object per entry)."""
    path = tmp_path / "model.pt"
    torch.save({f"t{i}": torch.ones(1) for i in range(60)}, path)
    entry = FileEntry("model.pt", path, path.stat().st_size)
    assert len(_torch_zip(_measure_all(np), entry, Limits(max_members=100))) == 60

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("zipfile was asked to read a directory past the member limit")

    monkeypatch.setattr(zipfile.ZipFile, "__init__", refused)
    assert _torch_zip(_measure_all(np), entry, Limits(max_members=50)) == []
    assert _torch_zip(_measure_all(np), entry, Limits(max_members=3)) == []  # more bytes than 3 need
