"""GGUF: files from the gguf writer pass; chat-template injections and out-of-bounds headers are reported."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from modelseal.core.findings import Severity
from tests.formats.helpers import assert_benign, assert_flagged, findings

gguf = pytest.importorskip("gguf")

# The shape of real chat templates: loops, namespace() for state, item access, filters.
BENIGN_TEMPLATE = (
    "{%- set ns = namespace(system=false) -%}"
    "{{ bos_token }}{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{%- set ns.system = true -%}{%- endif -%}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>"
    "{%- if loop.last and add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>{% endif -%}"
    "{%- endfor -%}"
)


def write_gguf(path: Path, template: str = BENIGN_TEMPLATE) -> Path:
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_context_length(128)
    w.add_chat_template(template)
    w.add_token_list(["<s>", "</s>", "hello", "world"])
    w.add_tensor("token_embd.weight", np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32))
    w.add_tensor("output_norm.weight", np.ones(32, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_writer_output_passes(tmp_path: Path) -> None:
    write_gguf(tmp_path / "model.gguf")
    assert_benign(tmp_path)


INJECTIONS = {
    "cycler globals": "{{ cycler.__init__.__globals__.os.popen('touch /tmp/marker').read() }}",
    "attr filter with concatenated dunder": "{{ ''|attr('__cla' ~ 'ss__') }}",
    "subclasses walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "joiner item access": "{{ joiner['__init__']['__globals__'] }}",
    "namespace trick": "{% set x = namespace.__init__ %}{{ x }}",
    "lipsum globals": "{{ lipsum.__globals__['os'].system('id') }}",
}


@pytest.mark.parametrize("case", sorted(INJECTIONS))
def test_template_injections_are_critical(tmp_path: Path, case: str) -> None:
    write_gguf(tmp_path / "model.gguf", INJECTIONS[case])
    hits = assert_flagged(tmp_path, "MS-TEMPLATE-INJECTION")
    assert hits[0].severity == Severity.CRITICAL
    assert "tokenizer.chat_template" in hits[0].location.member


def _header(version: int = 3, tensors: int = 0, kvs: int = 1) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def _kv_string(key: str, value: bytes, declared: int | None = None) -> bytes:
    k = key.encode()
    return (
        struct.pack("<Q", len(k))
        + k
        + struct.pack("<IQ", 8, len(value) if declared is None else declared)
        + value
    )


MALFORMED = {
    "string length beyond file": _header() + _kv_string("general.name", b"x", declared=1 << 40),
    "array count beyond file": _header() + struct.pack("<Q", 3) + b"a.b" + struct.pack("<IIQ", 9, 4, 1 << 50),
    "unknown version": _header(version=99),
    "unknown value type": _header() + struct.pack("<Q", 3) + b"a.b" + struct.pack("<I", 77) + b"\0" * 8,
    "tensor count beyond file": _header(tensors=1 << 40, kvs=0),
    "too many dimensions": _header(tensors=1, kvs=0)
    + struct.pack("<Q", 1)
    + b"t"
    + struct.pack("<I", 9)
    + struct.pack("<9Q", *[1] * 9)
    + struct.pack("<IQ", 0, 0),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_headers_are_high(tmp_path: Path, case: str) -> None:
    (tmp_path / "model.gguf").write_bytes(MALFORMED[case])
    assert_flagged(tmp_path, "MS-GGUF-MALFORMED")


def test_tensor_data_past_end_of_file(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "model.gguf")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    hits = assert_flagged(tmp_path, "MS-GGUF-MALFORMED")
    assert "past the end" in hits[0].message


def test_overlapping_tensors(tmp_path: Path) -> None:
    w = gguf.GGUFWriter(str(tmp_path / "x.gguf"), "llama")
    w.add_tensor("a", np.zeros(32, dtype=np.float32))
    w.add_tensor("b", np.zeros(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = bytearray((tmp_path / "x.gguf").read_bytes())
    # Point tensor "b" at offset 0, where "a" lives: the last u64 of b's entry is its offset.
    entry = data.index(b"\x01\x00\x00\x00\x00\x00\x00\x00b")
    offset_at = entry + 9 + 4 + 8 + 4
    data[offset_at : offset_at + 8] = struct.pack("<Q", 0)
    (tmp_path / "x.gguf").write_bytes(bytes(data))
    found = findings(tmp_path)
    assert any(f.rule_id == "MS-GGUF-MALFORMED" and "overlaps" in f.message for f in found), found
