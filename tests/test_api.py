"""The composed scan: manifest digests, lockfile status, progress."""

from __future__ import annotations

import pickle
from pathlib import Path

from modelseal.api import scan
from modelseal.integrity.lockfile import Lockfile, lock_entry, write_lock
from modelseal.integrity.manifest import manifest_for
from modelseal.sources.local import resolve_local


def make_model(root: Path) -> Path:
    root.mkdir()
    (root / "config.json").write_text('{"hidden_size": 8}')
    (root / "weights.pkl").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=4))
    return root


def test_scan_reports_manifest_digest_equal_to_integrity(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    result = scan([model])
    assert result.targets[0].manifest_digest == manifest_for(resolve_local(str(model))).digest
    assert result.targets[0].lock == ""


def test_scan_of_locked_model_says_whether_it_matches(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    lockfile = tmp_path / "modelseal.lock"
    write_lock(lockfile, Lockfile((lock_entry(str(model), manifest_for(resolve_local(str(model)))),)))
    assert scan([model], lockfile=lockfile).targets[0].lock == "match"
    (model / "weights.pkl").write_bytes(pickle.dumps({"w": [9.0]}, protocol=4))
    result = scan([model], lockfile=lockfile)
    assert result.targets[0].lock == "mismatch"
    assert any(f.rule_id == "MS-LOCK-MISMATCH" and "weights.pkl" in f.message for f in result.findings)


def test_progress_counts_every_file(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    seen: list[tuple[str, int, int]] = []
    scan([model], progress=lambda path, done, total: seen.append((path, done, total)))
    assert seen == [("config.json", 1, 2), ("weights.pkl", 2, 2)]


def test_without_digests_only_files_with_findings_are_hashed(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    (model / "extra.pkl").write_bytes(b"\x80\x04\x95")  # truncated: a finding
    result = scan([model], digests=False)
    files = {f.path: f for f in result.targets[0].files}
    assert result.targets[0].manifest_digest is None
    assert files["config.json"].digest is None and files["weights.pkl"].digest is None
    assert files["extra.pkl"].findings
    assert files["extra.pkl"].digest == manifest_for(resolve_local(str(model))).digests()["extra.pkl"]


def test_a_lockfile_entry_makes_every_file_hashed(tmp_path: Path) -> None:
    from modelseal.integrity.lockfile import Lockfile, lock_entry, write_lock

    model = make_model(tmp_path / "m")
    lockfile = tmp_path / "modelseal.lock"
    write_lock(lockfile, Lockfile((lock_entry(str(model), manifest_for(resolve_local(str(model)))),)))
    (model / "weights.pkl").write_bytes(pickle.dumps({"w": [3.0]}, protocol=4))  # swapped after locking
    result = scan([model], digests=False, lockfile=lockfile)
    assert result.targets[0].lock == "mismatch"
    assert all(f.digest for f in result.targets[0].files)


def _hub_cache(tmp_path: Path, monkeypatch: object, repo: str) -> None:
    import huggingface_hub.constants

    from tests.sources.test_local import make_cache_repo

    make_cache_repo(
        tmp_path / "hub", repo, {"config.json": b"{}", "weights.pkl": pickle.dumps([1], protocol=4)}
    )
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # type: ignore[attr-defined]


def test_scan_hub_reference_offline_records_tier(tmp_path: Path, monkeypatch: object) -> None:
    _hub_cache(tmp_path, monkeypatch, "meta-llama/Llama-2-7b-hf")
    target = scan(["hf://meta-llama/Llama-2-7b-hf"], offline=True).targets[0]
    assert [f.path for f in target.files] == ["config.json", "weights.pkl"]
    assert target.publisher_tier == 1
    assert not [f for f in target.findings if f.rule_id.startswith("MS-NAME-")]


def test_scan_hub_reference_flags_lookalike(tmp_path: Path, monkeypatch: object) -> None:
    _hub_cache(tmp_path, monkeypatch, "meta-1lama/Llama-2-7b-hf")
    target = scan(["hf://meta-1lama/Llama-2-7b-hf"], offline=True).targets[0]
    assert any(f.rule_id.startswith("MS-NAME-") for f in target.findings)
    assert target.publisher_tier == 5


def test_json_report_carries_lock_and_tier(tmp_path: Path) -> None:
    import json

    import jsonschema

    from modelseal.reports import get_writer
    from modelseal.reports.json import SCHEMA_PATH

    model = make_model(tmp_path / "m")
    lockfile = tmp_path / "modelseal.lock"
    write_lock(lockfile, Lockfile((lock_entry(str(model), manifest_for(resolve_local(str(model)))),)))
    doc = json.loads(get_writer("json").render(scan([model], lockfile=lockfile)))
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()), cls=jsonschema.Draft202012Validator)
    assert doc["targets"][0]["lock"] == "match"
    assert doc["targets"][0]["publisher_tier"] is None
