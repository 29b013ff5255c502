"""The JSON report against its published schema, and the facts it must carry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from modelseal.core.findings import Severity
from modelseal.core.result import ScanResult
from modelseal.reports import ReportOptions, get_writer
from modelseal.reports.json import SCHEMA_ID, SCHEMA_PATH, SCHEMA_VERSION

from .conftest import build_result


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _render(result: ScanResult, fail_on: Severity = Severity.HIGH) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(get_writer("json", ReportOptions(fail_on=fail_on)).render(result))
    return doc


def test_schema_file_is_the_versioned_one() -> None:
    schema = _schema()
    assert schema["$id"] == SCHEMA_ID
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION == 1
    assert SCHEMA_PATH.name == "scan-report-v1.json"


def test_report_validates_and_carries_files_findings_summary(result: ScanResult) -> None:
    doc = _render(result)
    jsonschema.validate(doc, _schema(), cls=jsonschema.Draft202012Validator)
    assert doc["schema"] == SCHEMA_ID and doc["schema_version"] == 1
    assert doc["tool"] == {"name": "modelseal", "version": "0.1.0"}
    assert [t["files"] for t in doc["targets"]] == [4, 1]
    assert doc["targets"][0]["manifest_digest"] == result.targets[0].manifest_digest
    paths = [(f["target"], f["path"], f["format"]) for f in doc["files"]]
    assert paths[0] == (0, "evil.pkl", "pickle") and paths[-1] == (1, "clean.pkl", "pickle")
    evil = next(f for f in doc["files"] if f["path"] == "evil.pkl")
    assert (
        evil["digest"] == result.targets[0].files[0].digest and evil["size"] == 42 and evil["findings"] == 1
    )
    # target-level findings first, then file findings in file order
    assert [f["rule_id"] for f in doc["findings"]][:2] == [
        "MS-FILE-LINK-ESCAPE",
        "MS-PICKLE-DANGEROUS-CALLABLE",
    ]
    first = doc["findings"][1]
    assert first["severity"] == "critical" and first["file"] == "evil.pkl"
    assert first["location"] == {"member": None, "offset": 28, "tensor": None}
    assert first["evidence"] == "GLOBAL posix system at offset 28"
    assert first["title"] == "Known-dangerous callable in pickle" and first["remediation"]
    tensor = next(f for f in doc["findings"] if f["rule_id"] == "MS-NUMPY-OBJECT-ARRAY")
    assert tensor["location"]["tensor"] == "embeddings"
    summary = doc["summary"]
    assert summary["by_severity"] == {"critical": 1, "high": 3, "medium": 0, "low": 1, "info": 1}
    assert summary["findings"] == len(doc["findings"]) == 6
    assert summary["files"] == 5 and summary["targets"] == 2 and summary["bytes"] == 42 + 10 + 4096 + 100 + 5
    assert summary["formats"] == {"pickle": 3, "pytorch-zip": 1, "safetensors": 1}
    assert (
        summary["max_severity"] == "critical" and summary["failed"] is True and summary["fail_on"] == "high"
    )


def test_threshold_is_reported_not_recomputed(result: ScanResult) -> None:
    assert _render(result, Severity.CRITICAL)["summary"]["failed"] is True
    doc = _render(ScanResult(result.targets[1:], "0.1.0"), Severity.INFO)  # the clean single file
    assert doc["summary"]["failed"] is False and doc["summary"]["max_severity"] is None


def test_without_digests_and_empty_results_validate(tmp_path: Path, empty: ScanResult) -> None:
    schema = _schema()
    doc = _render(build_result(tmp_path, digests=False))
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    assert all(f["digest"] is None for f in doc["files"])
    assert all(t["manifest_digest"] is None for t in doc["targets"])
    doc = _render(empty)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    assert doc["files"] == [] and doc["summary"]["formats"] == {}


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("summary"),
        lambda d: d.update(schema_version=2),
        lambda d: d["findings"][0].update(severity="severe"),
        lambda d: d["findings"][0]["location"].update(offset=-1),
        lambda d: d["files"][0].update(extra=True),
    ],
)
def test_schema_rejects_reports_that_break_it(result: ScanResult, damage: Any) -> None:
    doc = _render(result)
    damage(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, _schema(), cls=jsonschema.Draft202012Validator)


def test_writers_are_interchangeable(result: ScanResult) -> None:
    from modelseal.reports import FORMATS, ReportError

    for name in FORMATS:
        writer = get_writer(name)
        assert writer.name == name
        assert writer.render(result).endswith("\n")
    with pytest.raises(ReportError, match="unknown report format"):
        get_writer("xml")
