"""FileWindow: part of a file as a seekable file of its own (a stored zip member read in place)."""

from __future__ import annotations

import io

import pytest

from modelseal.core.streams import ByteSource, FileRaw, FileWindow


def test_a_window_reads_and_seeks_only_its_own_bytes() -> None:
    outer = io.BytesIO(b"0123456789")
    window = FileWindow(outer, 3, 4)
    assert window.read() == b"3456"
    assert window.seek(1) == 1 and window.read(2) == b"45"
    assert window.seek(-1, io.SEEK_END) == 3 and window.read() == b"6"
    assert window.seek(10) == 10 and window.read() == b""
    with pytest.raises(ValueError, match="whence"):
        window.seek(0, 3)


def test_the_file_may_be_read_elsewhere_between_two_reads() -> None:
    outer = io.BytesIO(b"0123456789")
    window = FileWindow(outer, 2, 6)
    assert window.read(2) == b"23"
    outer.seek(0)
    outer.read(9)
    assert window.read() == b"4567"


def test_a_byte_source_over_a_window_knows_its_size() -> None:
    window = FileWindow(io.BytesIO(b"0123456789"), 2, 6)
    source = ByteSource(FileRaw(window))  # type: ignore[arg-type]
    source.skip(5)
    assert source.read_upto(10) == b"7" and source.at_eof()
