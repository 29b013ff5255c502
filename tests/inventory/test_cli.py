"""``modelseal inventory`` and ``modelseal reverify`` through the CLI, on files the tests make."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.policy.helpers import bad_model, good_model, make_cache, run_cli


def run(*args: str) -> tuple[int, str]:
    return run_cli(*args, stdout_only=True)


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_inventory_formats_and_rating(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import torch\nfrom transformers import AutoModel\n"
        "m = AutoModel.from_pretrained('google/bert-base', trust_remote_code=True)\n"
        "s = torch.load('ckpt.pt')\n"
    )
    make_cache(tmp_path / "hub")
    code, out = run("inventory", str(tmp_path), "--format", "json", "--exposure", "internet")
    assert code == 0
    models = json.loads(out)["models"]
    by_model = {m["model"]: m for m in models}
    assert set(by_model) == {"google/bert-base", "ckpt.pt", "acme/tiny-bert"}
    bert = by_model["google/bert-base"]
    assert bert["tier"] == "major-lab" and bert["publisher"] == "google"
    assert bert["rules"] == ["MS-INVENTORY-UNPINNED-REVISION", "MS-INVENTORY-REMOTE-CODE"]
    assert by_model["ckpt.pt"]["rating"] == "critical" and by_model["ckpt.pt"]["priority"] == "immediate"
    assert models[0]["priority"] == "immediate"  # most urgent first
    code, out = run("inventory", str(tmp_path), "--format", "csv")
    assert {r["model"] for r in csv.DictReader(io.StringIO(out))} == set(by_model)
    code, out = run("inventory", str(tmp_path))
    assert code == 0 and "acme/tiny-bert" in out
    assert run("inventory", str(tmp_path), "--fail-on", "critical")[0] == 1
    assert run("inventory", str(tmp_path / "hub"), "--fail-on", "critical")[0] == 0


def test_inventory_usage_errors(tmp_path: Path) -> None:
    assert run("inventory", str(tmp_path), "--format", "xml")[0] == 4
    assert run("inventory", str(tmp_path), "--criticality", "extreme")[0] == 4
    assert run("inventory", str(tmp_path / "missing"))[0] == 2


def test_reverify_reports_what_changed(tmp_path: Path) -> None:
    root = tmp_path / "models"
    good = good_model(root / "good")
    state = tmp_path / "state.json"
    code, out = run("reverify", str(root), "--state", str(state))
    assert code == 0 and f"NEW {good}" in out  # a clean model: nothing wrong on the first run
    code, out = run("reverify", str(root), "--state", str(state))
    assert code == 0 and f"unchanged {good}" in out

    (good / "config.json").write_text('{"model_type": "changed"}')
    bad = bad_model(root / "bad")
    code, out = run("reverify", str(root), "--state", str(state), "--format", "json")
    assert code == 1
    doc = {m["location"]: m for m in json.loads(out)["models"]}
    assert doc[str(good)]["drifted"] == ["config.json"] and doc[str(good)]["rules"] == ["MS-REVERIFY-DRIFT"]
    assert any(
        k.startswith("MS-PICKLE-DANGEROUS-CALLABLE model.pkl")
        for k in doc[str(bad / "model.pkl")]["new_findings"]
    )

    (bad / "model.pkl").unlink()
    code, out = run("reverify", str(root), "--state", str(state))
    assert f"GONE {bad / 'model.pkl'}" in out


def test_reverify_checks_the_lockfile(tmp_path: Path) -> None:
    from modelseal.integrity.lockfile import Lockfile, lock_entry, write_lock
    from modelseal.integrity.manifest import manifest_for
    from modelseal.sources.local import resolve_local

    good = good_model(tmp_path / "models" / "good")
    entry = lock_entry(good.as_posix(), manifest_for(resolve_local(str(good))))
    write_lock(tmp_path / "modelseal.lock", Lockfile((entry,)))
    state = str(tmp_path / "state.json")
    assert run("reverify", str(tmp_path / "models"), "--state", state)[0] == 0
    (good / "model.safetensors").write_bytes(b"\x08" + b"\0" * 7 + b"{}")
    code, out = run("reverify", str(tmp_path / "models"), "--state", state)
    assert code == 1 and "lock:" in out and "drifted: model.safetensors" in out
