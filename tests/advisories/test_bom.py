"""The CycloneDX BOM's ``vulnerabilities``: advisories listing the model, with VEX analysis when triaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelseal.api.advisories import SyncRequest, sync

from .conftest import model_advisory, sha256, write_feed

pytest.importorskip("cyclonedx")

WEIGHTS = b"\x80\x04K\x01."


def test_bom_lists_advisories_with_triage(tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from modelseal.api.provenance import BomRequest, bom
    from modelseal.reports import writer_for

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.pkl").write_bytes(WEIGHTS)
    other = sha256(b"elsewhere")
    feed = [
        model_advisory("MAL-2026-0700", files=(sha256(WEIGHTS),)),
        model_advisory("GHSA-7777-8888-9999", files=(sha256(WEIGHTS),), severity="LOW"),
        model_advisory("MAL-2026-0701", files=(other,)),
    ]
    sync(SyncRequest((str(write_feed(tmp_path / "feed", feed)),)))
    config = tmp_path / "modelseal.toml"
    config.write_text(
        '[advisories.triage."GHSA-7777-8888-9999"]\nstate = "not_affected"\n'
        'justification = "code_not_reachable"\ndetail = "the file is never loaded"\n'
    )
    facts = bom(BomRequest(str(model), config=config)).facts
    text = writer_for("bom", "cyclonedx").render(facts)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    vulns = {v["id"]: v for v in json.loads(text)["vulnerabilities"]}
    assert set(vulns) == {"MAL-2026-0700", "GHSA-7777-8888-9999"}
    assert vulns["MAL-2026-0700"]["ratings"] == [{"severity": "critical"}]
    assert vulns["MAL-2026-0700"]["affects"] == [{"ref": "file:model.pkl"}]
    assert "analysis" not in vulns["MAL-2026-0700"]
    assert vulns["GHSA-7777-8888-9999"]["analysis"] == {
        "state": "not_affected",
        "justification": "code_not_reachable",
        "detail": "the file is never loaded",
    }
