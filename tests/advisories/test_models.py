"""Model advisories: a known-bad digest found by scan, gate, inventory, reverify and ``advisories check``,
wherever the model sits (a folder, a Hugging Face cache snapshot, an inventory)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.api.advisories import CheckRequest, SyncRequest, check, sync
from modelseal.integrity.manifest import manifest_digest

from .conftest import REPO, model_advisory, sha256, write_feed

WEIGHTS = b"\x80\x04K\x01." + os.urandom(64)  # a harmless pickle and some bytes: its digest is what matters
CONFIG = b'{"architectures": ["BertModel"]}'


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    root.mkdir()
    (root / "pytorch_model.bin").write_bytes(WEIGHTS)
    (root / "config.json").write_bytes(CONFIG)
    return root


def _sync(tmp_path: Path, *docs: dict[str, object], name: str = "feed") -> None:
    sync(SyncRequest((str(write_feed(tmp_path / name, list(docs))),)))


def _rules(findings: object) -> list[tuple[str, str]]:
    return sorted((f.rule_id, f.file) for f in findings)  # type: ignore[attr-defined]


def test_scan_finds_a_malicious_file_digest_and_says_how_old_the_cache_is(
    tmp_path: Path, model: Path
) -> None:
    _sync(tmp_path, model_advisory("MAL-2026-0001", files=(sha256(WEIGHTS),)))
    result = scan(model, lockfile=False)
    found = {f.rule_id: f for f in result.findings if f.rule_id.startswith("MS-ADVISORY")}
    assert set(found) == {"MS-ADVISORY-MALICIOUS-MODEL", "MS-ADVISORY-CACHE-AGE"}
    hit = found["MS-ADVISORY-MALICIOUS-MODEL"]
    assert hit.file == "pytorch_model.bin" and hit.severity.label == "critical"
    assert hit.evidence.startswith("MAL-2026-0001 file sha256:")
    assert "days ago" in found["MS-ADVISORY-CACHE-AGE"].message


def test_manifest_digest_as_scan_reports_it_matches(tmp_path: Path, model: Path) -> None:
    digest = manifest_digest([("config.json", sha256(CONFIG)), ("pytorch_model.bin", sha256(WEIGHTS))])
    assert scan(model, lockfile=False).targets[0].manifest_digest == digest
    _sync(tmp_path, model_advisory("GHSA-aaaa-bbbb-cccc", manifests=(digest,), severity="MODERATE"))
    (hit,) = [f for f in scan(model, lockfile=False).findings if f.rule_id == "MS-ADVISORY-MODEL"]
    assert hit.file == "" and hit.severity.label == "medium" and "manifest digest" in hit.message


def test_no_cache_no_advisory_findings(model: Path, cache_path: Path) -> None:
    assert not [f for f in scan(model, lockfile=False).findings if f.rule_id.startswith("MS-ADVISORY")]
    assert not cache_path.exists()


def test_other_content_does_not_match(tmp_path: Path, model: Path) -> None:
    _sync(tmp_path, model_advisory("MAL-2026-0002", files=(sha256(b"something else"),)))
    rules = {f.rule_id for f in scan(model, lockfile=False).findings}
    assert "MS-ADVISORY-MALICIOUS-MODEL" not in rules and "MS-ADVISORY-CACHE-AGE" in rules


def test_hub_cache_snapshot(tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")
    from tests.integrity.conftest import build_hf_cache

    bad = os.urandom(4000)
    snapshot = build_hf_cache(tmp_path / "hub", REPO, {"model.safetensors": bad, "config.json": CONFIG})
    _sync(tmp_path, model_advisory("MAL-2026-0003", files=(sha256(bad),)))
    assert ("MS-ADVISORY-MALICIOUS-MODEL", "model.safetensors") in _rules(
        scan(snapshot, lockfile=False).findings
    )
    result = check(CheckRequest((str(snapshot),)))
    assert ("MS-ADVISORY-MALICIOUS-MODEL", f"{snapshot}/model.safetensors") in _rules(result.findings)


def test_inventory_finds_listed_models_in_a_folder_and_a_hub_cache(tmp_path: Path, model: Path) -> None:
    pytest.importorskip("huggingface_hub")
    from modelseal.api.inventories import InventoryRequest, inventory
    from tests.integrity.conftest import build_hf_cache

    bad = os.urandom(4000)
    deployed = tmp_path / "deployed"
    deployed.mkdir()
    model.rename(deployed / "model")
    snapshot = build_hf_cache(deployed / "hub", REPO, {"model.safetensors": bad, "config.json": CONFIG})
    _sync(tmp_path, model_advisory("MAL-2026-0004", files=(sha256(bad), sha256(WEIGHTS))))
    result = inventory(InventoryRequest((str(deployed),), fail_on="critical"))
    hits = [f.file for f in result.advisories if f.rule_id == "MS-ADVISORY-MALICIOUS-MODEL"]
    assert sorted(hits) == sorted(
        [f"{deployed / 'model'}/pytorch_model.bin", f"{snapshot}/model.safetensors"]
    )
    assert result.failed
    assert result.advisories[0].rule_id == "MS-ADVISORY-CACHE-AGE"


def test_withdrawn_advisory_stops_matching(tmp_path: Path, model: Path) -> None:
    _sync(tmp_path, model_advisory("MAL-2026-0005", files=(sha256(WEIGHTS),)))
    assert "MS-ADVISORY-MALICIOUS-MODEL" in {f.rule_id for f in scan(model, lockfile=False).findings}
    report = sync(
        SyncRequest(
            (
                str(
                    write_feed(
                        tmp_path / "update",
                        [
                            model_advisory(
                                "MAL-2026-0005",
                                files=(sha256(WEIGHTS),),
                                modified="2026-02-01T00:00:00Z",
                                withdrawn="2026-02-01T00:00:00Z",
                            )
                        ],
                    )
                ),
            ),
            allow_mass_withdrawal=True,  # the only advisory in this cache
        )
    )
    assert (report.withdrawn, report.active) == (1, 0)
    assert "MS-ADVISORY-MALICIOUS-MODEL" not in {f.rule_id for f in scan(model, lockfile=False).findings}


def test_older_record_does_not_replace_a_newer_one(tmp_path: Path, model: Path) -> None:
    _sync(
        tmp_path, model_advisory("MAL-2026-0006", files=(sha256(WEIGHTS),), modified="2026-03-01T00:00:00Z")
    )
    stale = model_advisory("MAL-2026-0006", modified="2026-01-01T00:00:00Z", withdrawn="2026-01-01T00:00:00Z")
    report = sync(SyncRequest((str(write_feed(tmp_path / "old", [stale])),)))
    assert (report.updated, report.active) == (0, 1)


def _age(cache_path: Path, days: int) -> None:
    from datetime import datetime, timedelta, timezone

    then = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
    with sqlite3.connect(cache_path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'synced_at'", (then,))


def test_stale_cache_is_a_finding_the_gate_policy_decides_on(
    tmp_path: Path, model: Path, cache_path: Path
) -> None:
    from modelseal.api.gating import GateRequest, gate

    _sync(tmp_path, model_advisory("MAL-2026-0007", files=(sha256(b"unrelated"),)))
    _age(cache_path, 30)
    (stale,) = [f for f in scan(model, lockfile=False).findings if f.rule_id.startswith("MS-ADVISORY")]
    assert stale.rule_id == "MS-ADVISORY-CACHE-STALE" and "30.0 days ago" in stale.message
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    result = gate(GateRequest(str(clean), "staging", audit_log=tmp_path / "audit.sqlite", cwd=tmp_path))
    assert "MS-ADVISORY-CACHE-STALE" in {f.rule_id for f in result.scan.findings}
    reasons = json.dumps(result.decision.to_document())
    assert "staging-medium-findings" in reasons


def test_max_age_comes_from_configuration(tmp_path: Path, model: Path, cache_path: Path) -> None:
    from modelseal.core.config import Config

    _sync(tmp_path, model_advisory("MAL-2026-0008", files=(sha256(b"unrelated"),)))
    _age(cache_path, 30)
    lenient = Config(raw={"advisories": {"max-age-days": 60}})
    assert "MS-ADVISORY-CACHE-AGE" in {f.rule_id for f in scan(model, lenient, lockfile=False).findings}


def test_reverify_reports_models_newly_affected_with_the_advisory_id(tmp_path: Path, model: Path) -> None:
    from modelseal.api.inventories import ReverifyRequest, reverify

    state = tmp_path / "state.json"
    _sync(tmp_path, model_advisory("MAL-2026-0009", files=(sha256(b"unrelated"),)))
    first = reverify(ReverifyRequest((str(model),), state, tmp_path / "none.lock"))
    assert first.newly_affected == ()
    _sync(tmp_path, model_advisory("MAL-2026-0010", files=(sha256(WEIGHTS),)), name="feed2")
    second = reverify(ReverifyRequest((str(model),), state, tmp_path / "none.lock"))
    assert [(n.location, n.advisory, n.file) for n in second.newly_affected] == [
        (str(model), "MAL-2026-0010", "pytorch_model.bin")
    ]
    assert second.worse
    third = reverify(ReverifyRequest((str(model),), state, tmp_path / "none.lock"))
    assert third.newly_affected == ()


def test_findings_reach_json_and_sarif(tmp_path: Path, model: Path) -> None:
    from modelseal.reports import get_writer

    _sync(tmp_path, model_advisory("MAL-2026-0011", files=(sha256(WEIGHTS),)))
    result = scan(model, lockfile=False)
    sarif = json.loads(get_writer("sarif").render(result))
    assert "MS-ADVISORY-MALICIOUS-MODEL" in {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert "MS-ADVISORY-MALICIOUS-MODEL" in get_writer("json").render(result)


def test_cli_sync_check_status(tmp_path: Path, model: Path) -> None:
    from modelseal.cli.app import run

    feed = write_feed(tmp_path / "feed", [model_advisory("MAL-2026-0012", files=(sha256(WEIGHTS),))])
    assert run(["advisories", "sync", str(feed)]) == 0
    assert run(["advisories", "check", str(model)]) == 1
    assert run(["advisories", "check", str(tmp_path / "feed")]) == 0
    assert run(["advisories", "status"]) == 0
    assert run(["advisories", "check", "--fail-on", "bogus", str(model)]) == 4


def test_damaged_cache_is_a_finding_of_the_scan_not_a_crash(model: Path, cache_path: Path) -> None:
    cache_path.parent.mkdir(parents=True)
    cache_path.write_bytes(b"SQLite format 3\0" + b"\xff" * 4000)
    (stale,) = [f for f in scan(model, lockfile=False).findings if f.rule_id.startswith("MS-ADVISORY")]
    assert stale.rule_id == "MS-ADVISORY-CACHE-STALE" and "nothing was checked" in stale.message
    from modelseal.advisories.cache import CacheError

    with pytest.raises(CacheError, match="not a usable advisory cache"):
        check(CheckRequest((str(model),)))
