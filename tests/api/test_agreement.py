"""scan, gate, verify, bom and inventory agree on the same inputs: one resolution, one lock check against
one lockfile, one tier (configuration included), one Hugging Face cache check (issue 16's list)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modelseal.api import gating, scanning
from modelseal.api.gating import GateRequest, gate
from modelseal.api.inventories import InventoryRequest, inventory
from modelseal.api.provenance import facts_of
from modelseal.cli.app import run
from modelseal.core.config import Config, load_config
from modelseal.core.errors import SourceError
from modelseal.core.limits import Limits
from modelseal.integrity.lockfile import Lockfile, lock_entry, write_lock
from modelseal.integrity.manifest import manifest_for
from modelseal.sources.local import resolve_local
from tests.policy.helpers import GOOD_FILES, good_model, isolate, make_cache

COMMIT = "c" * 40
SRC = Path(__file__).resolve().parents[2] / "src" / "modelseal"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


def _snapshot(tmp_path: Path, repo: str = "google/tiny") -> Path:
    cache = make_cache(tmp_path / "hub", repo, COMMIT)
    return cache / f"models--{repo.replace('/', '--')}" / "snapshots" / COMMIT


def _gate(model: str, tmp_path: Path, **kw: object) -> gating.GateResult:
    return gate(GateRequest(model, "dev", cwd=tmp_path, audit_log=tmp_path / "audit.sqlite", **kw))  # type: ignore[arg-type]


def test_gate_resolves_once_and_keeps_max_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = str(good_model(tmp_path / "m"))
    calls: list[str] = []
    real = scanning.resolve

    def counting(target: str, **kw: object) -> object:
        calls.append(target)
        return real(target, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(scanning, "resolve", counting)
    _gate(model, tmp_path)
    assert calls == [model]
    (tmp_path / "pyproject.toml").write_text("[tool.modelseal.limits]\nmax_files = 1\n")
    with pytest.raises(SourceError, match="more than 1 files"):
        _gate(model, tmp_path)
    with pytest.raises(SourceError, match="more than 1 files"):
        scanning.scan([model], load_config(start=tmp_path))


def test_hub_targets_keep_max_files(tmp_path: Path) -> None:
    _snapshot(tmp_path)
    config = Config(limits=Limits(max_files=1))
    with pytest.raises(SourceError, match="more than 1 files"):
        facts_of(f"hf://google/tiny@{COMMIT}", config=config, offline=True, cache_dir=tmp_path / "hub")


def test_one_lockfile_for_scan_and_gate(tmp_path: Path) -> None:
    """./modelseal.lock pins other content; --lockfile pins this model: both scan and gate use the latter."""
    model = good_model(tmp_path / "m")
    manifest = manifest_for(resolve_local(str(model)))
    write_lock(tmp_path / "pinned.lock", Lockfile((lock_entry(model.as_posix(), manifest),)))
    (model / "config.json").write_bytes(b'{"model_type": "gpt2"}')  # now differs from what ./ pins below
    write_lock(tmp_path / "modelseal.lock", Lockfile((lock_entry(model.as_posix(), manifest),)))
    fresh = manifest_for(resolve_local(str(model)))
    write_lock(tmp_path / "pinned.lock", Lockfile((lock_entry(model.as_posix(), fresh),)))
    outcome = _gate(str(model), tmp_path, lockfile=tmp_path / "pinned.lock")
    assert outcome.context.lock.state == "verified"
    assert outcome.scan.targets[0].lock == "match"
    assert not [f for f in outcome.scan.iter_findings() if f.rule_id == "MS-LOCK-MISMATCH"]
    by_default = _gate(str(model), tmp_path)  # ./modelseal.lock: the same one check, now a mismatch
    assert by_default.context.lock.state == "mismatch" and by_default.scan.targets[0].lock == "mismatch"


def test_hub_lock_entry_is_checked_with_revision_by_scan_gate_and_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    snapshot = _snapshot(tmp_path)
    entry = lock_entry("hf://google/tiny", manifest_for(resolve_local(str(snapshot))), revision="d" * 40)
    write_lock(tmp_path / "modelseal.lock", Lockfile((entry,)))
    target = f"hf://google/tiny@{COMMIT}"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    scanned = scanning.scan([target], offline=True).targets[0]
    gated = _gate(target, tmp_path)
    assert scanned.lock == "mismatch" and gated.context.lock.state == "mismatch"
    assert "locked at" in gated.context.lock.detail
    code = run(["verify", target, "--locked", "--offline", "--cache-dir", str(tmp_path / "hub")])
    assert code == 1


def test_one_tier_honouring_replace_publishers(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path)
    assert scanning.scan([snapshot]).targets[0].publisher_tier == 1  # google: shipped tier 1
    (tmp_path / "pyproject.toml").write_text(
        "[tool.modelseal.provenance]\npublishers = { acme = 1 }\nreplace_publishers = true\n"
    )
    config = load_config(start=tmp_path)
    assert scanning.scan([snapshot], config).targets[0].publisher_tier == 5
    gated = _gate(str(snapshot), tmp_path)
    assert (gated.context.tier, gated.context.publisher) == ("unknown", "google")
    facts = facts_of(str(snapshot), config=config)
    assert facts.tier is not None and facts.tier.tier == 5
    (assessed,) = inventory(InventoryRequest((str(tmp_path / "hub"),), config=config)).assessments
    assert assessed.tier == "unknown"


def test_cache_record_is_checked_by_scan_gate_and_verify(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path)
    lockfile = tmp_path / "modelseal.lock"
    assert run(["lock", str(snapshot), "--lockfile", str(lockfile)]) == 0
    blob = (snapshot / "config.json").resolve()
    blob.write_bytes(b'{"model_type": "evil"}')  # the blob no longer matches its name
    scanned = scanning.scan([snapshot]).targets[0]
    assert any(f.rule_id == "MS-HF-CACHE-MISMATCH" for f in scanned.findings)
    gated = _gate(str(snapshot), tmp_path)
    assert any(f.rule_id == "MS-HF-CACHE-MISMATCH" for f in gated.context.findings)
    assert run(["verify", str(snapshot), "--locked", "--lockfile", str(lockfile)]) == 1  # cache and lock fail


def test_bom_of_a_hub_reference_offline_matches_the_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = _snapshot(tmp_path, "acme/tiny-bert")
    target = f"hf://acme/tiny-bert@{COMMIT}"
    code = run(["bom", target, "--offline", "--cache-dir", str(tmp_path / "hub"), "--format", "cyclonedx"])
    doc = json.loads(capsys.readouterr().out)
    assert code in (0, 1)  # card findings (no README) go to stderr with exit 1
    component = doc["metadata"]["component"]
    assert component["purl"] == f"pkg:huggingface/acme/tiny-bert@{COMMIT}"
    by_hub = facts_of(target, offline=True, cache_dir=tmp_path / "hub")
    by_path = facts_of(str(snapshot))
    assert (
        (by_hub.model_id, by_hub.revision)
        == (by_path.model_id, by_path.revision)
        == ("acme/tiny-bert", COMMIT)
    )
    assert by_hub.manifest_digest == by_path.manifest_digest
    assert {f.relpath for f in by_hub.files} == set(GOOD_FILES)


def test_cli_gate_goes_through_api_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = gating.gate

    def spy(req: GateRequest) -> gating.GateResult:
        seen.append(req.model)
        return real(req)

    monkeypatch.setattr(gating, "gate", spy)
    model = str(good_model(tmp_path / "m"))
    assert run(["gate", model, "--env", "dev"]) == 0
    assert seen == [model]


def _defining(pattern: str) -> set[str]:
    found = set()
    for path in SRC.rglob("*.py"):
        if re.search(pattern, path.read_text(encoding="utf-8")):
            found.add(path.relative_to(SRC).as_posix())
    return found


def test_cache_layout_and_tier_names_are_known_in_one_place() -> None:
    assert _defining(r'"models--|"snapshots"|"blobs"') == {"sources/hflayout.py"}
    assert _defining(r'"major-lab"') == {"core/tiers.py"}
