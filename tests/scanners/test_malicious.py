"""Every malicious technique is flagged high or critical, with the rule that names the technique."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.core.findings import Severity
from tests.scanners.malicious import BUILDERS

# The rule each technique must trigger; the rest trigger MS-PICKLE-DANGEROUS-CALLABLE.
EXPECTED = {
    "build_on_global.pkl": "MS-PICKLE-MUTATES-GLOBAL",
    "setitems_on_global.pkl": "MS-PICKLE-MUTATES-GLOBAL",
    "call_on_call_result.pkl": "MS-PICKLE-CALL-ON-OBJECT",
    "ext_code.pkl": "MS-PICKLE-UNRESOLVED-EXT",
    # partial itself only hands back a callable the pickle never calls; the name it wraps is what is reported
    "functools_partial.pkl": "MS-PICKLE-UNKNOWN-CALLABLE",
    "unknown_module.pkl": "MS-PICKLE-UNKNOWN-CALLABLE",
    "nested_in_large_payload.pkl": "MS-PICKLE-NESTED-PICKLE",
    "nested_pickle_loads.pkl": "MS-PICKLE-NESTED-PICKLE",
    "nested_torch_load_from_bytes.pkl": "MS-PICKLE-NESTED-PICKLE",
    "nested_via_codecs_latin1.pkl": "MS-PICKLE-NESTED-PICKLE",
    "pickle_named_json.json": "MS-FORMAT-EXTENSION-MISMATCH",
    "pickle_named_safetensors.safetensors": "MS-FORMAT-EXTENSION-MISMATCH",
    "polyglot_pickle_then_zip.pt": "MS-POLYGLOT",
    "polyglot_pickle_tar.pt": "MS-POLYGLOT",
    "tar_link_escape.tar": "MS-FILE-LINK-ESCAPE",
    "torchscript_code_open.pt": "MS-TORCHSCRIPT-CODE",
    "torchscript_custom_op.pt": "MS-TORCHSCRIPT-CODE",
    "zip_duplicate_names.zip": "MS-ZIP-DUPLICATE-NAME",
    "zip_encrypted.zip": "MS-ARCHIVE-ENCRYPTED",
    "zip_header_mismatch.zip": "MS-ZIP-HEADER-MISMATCH",
    "zip_path_traversal.zip": "MS-ZIP-PATH-TRAVERSAL",
}


def test_corpus_is_large_enough() -> None:
    assert len(BUILDERS) >= 40


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_malicious_file_is_flagged(name: str, tmp_path: Path) -> None:
    path = BUILDERS[name](tmp_path)
    result = scan([path])
    expected = EXPECTED.get(name, "MS-PICKLE-DANGEROUS-CALLABLE")
    hits = [f for f in result.findings if f.rule_id == expected]
    details = [(f.rule_id, f.severity.label, f.message) for f in result.findings]
    assert hits, details
    assert max(f.severity for f in hits) >= Severity.HIGH, details


def test_offsets_point_at_the_import(tmp_path: Path) -> None:
    path = BUILDERS["system_proto2.pkl"](tmp_path)
    data = path.read_bytes()
    finding = next(f for f in scan([path]).findings if f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE")
    assert finding.location.offset is not None
    assert data[finding.location.offset : finding.location.offset + 1] == b"c"  # GLOBAL opcode


def test_nested_findings_name_the_container_path(tmp_path: Path) -> None:
    path = BUILDERS["tar_gz_nested_zip.tar.gz"](tmp_path)
    finding = next(f for f in scan([path]).findings if f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE")
    assert finding.location.member == "(decompressed)!/inner.zip!/deep/model.pkl"
