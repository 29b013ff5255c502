"""safetensors header validation: real files pass, each kind of malformed header is reported with evidence."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource
from modelseal.scanners.safetensors import parse_header
from tests.formats.helpers import assert_benign, assert_flagged


def raw_safetensors(header: dict[str, Any] | bytes, data: bytes) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_real_files_pass(tmp_path: Path) -> None:
    tensors = {
        "w": torch.randn(8, 4),
        "b": torch.zeros(4, dtype=torch.bfloat16),
        "i": torch.arange(6),
        "h": torch.randn(3, dtype=torch.float16),
    }
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    assert_benign(tmp_path)


def _f32(name: str, begin: int, count: int) -> dict[str, Any]:
    return {name: {"dtype": "F32", "shape": [count], "data_offsets": [begin, begin + 4 * count]}}


MALFORMED = {
    "header longer than file": struct.pack("<Q", 10_000) + b'{"a": 1}',
    "not json": raw_safetensors(b"{this is not json", b""),
    "unknown dtype": raw_safetensors({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
    "overlap": raw_safetensors({**_f32("a", 0, 4), **_f32("b", 8, 4)}, b"\0" * 24),
    "gap": raw_safetensors({**_f32("a", 0, 2), **_f32("b", 12, 1)}, b"\0" * 16),
    "trailing data": raw_safetensors(_f32("a", 0, 2), b"\0" * 8 + b"hidden payload"),
    "offsets past end": raw_safetensors(_f32("a", 0, 64), b"\0" * 16),
    "shape disagrees with offsets": raw_safetensors(
        {"a": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 16]}}, b"\0" * 16
    ),
    "metadata not strings": raw_safetensors({"__metadata__": {"n": 1}, **_f32("a", 0, 1)}, b"\0" * 4),
    "duplicate key": raw_safetensors(
        b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
        b'"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}',
        b"\0" * 8,
    ),
    "negative dimension": raw_safetensors(
        {"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_headers_are_high(tmp_path: Path, case: str) -> None:
    (tmp_path / "model.safetensors").write_bytes(MALFORMED[case])
    hits = assert_flagged(tmp_path, "MS-SAFETENSORS-MALFORMED")
    assert hits[0].evidence


def test_header_size_limit_is_enforced() -> None:
    data = raw_safetensors(_f32("a", 0, 1), b"\0" * 4)
    with pytest.raises(ValueError, match="over the limit"):
        parse_header(ByteSource.from_bytes(data), len(data), Limits(max_header_bytes=16))


def test_streamed_input_still_catches_trailing_data() -> None:
    """Inside an archive the size may be unknown; the data section is then counted."""
    data = raw_safetensors(_f32("a", 0, 2), b"\0" * 8 + b"extra")
    header = parse_header(ByteSource.from_bytes(data), None, Limits())
    assert [t.name for t in header.tensors] == ["a"]
    from modelseal.scanners.interface import ScanContext, ScanInput
    from modelseal.scanners.registry import dispatch
    from modelseal.scanners.safetensors import SafetensorsScanner

    item = ScanInput(ByteSource.from_bytes(data), "x", None)
    outcome = SafetensorsScanner().scan(item, ScanContext(Limits(), dispatch))
    assert [f.rule_id for f in outcome.findings] == ["MS-SAFETENSORS-MALFORMED"]
