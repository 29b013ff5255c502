"""Folders, loose files and the Hugging Face cache (laid out exactly as huggingface_hub writes it)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from modelseal.core.errors import ConfigError, SourceError
from modelseal.inventory.discover import discover, plain_npz
from modelseal.inventory.model import Reference
from modelseal.inventory.risk import Usage, UsageRule, assess, load_usage_rules, usage_for
from modelseal.reports import inventory as report
from tests.policy.helpers import make_cache
from tests.scanners.craft import many_member_zip

COMMIT = "a" * 40


def test_hf_cache_entries(tmp_path: Path) -> None:
    cache = make_cache(tmp_path / "hub")
    make_cache(cache, "other/model", "b" * 40)
    refs = discover([str(cache)])
    assert [(r.kind, r.model, r.revision, r.files) for r in refs] == [
        ("hf-cache", "acme/tiny-bert", COMMIT, ("config.json", "model.safetensors")),
        ("hf-cache", "other/model", "b" * 40, ("config.json", "model.safetensors")),
    ]
    assert refs[0].format == "safetensors" and refs[0].flags == ()


def test_folders_files_and_nested_cache(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    (root / "models" / "bert").mkdir(parents=True)
    (root / "models" / "bert" / "config.json").write_text("{}")
    (root / "models" / "bert" / "pytorch_model.bin").write_bytes(b"PK")
    (root / "models" / "bert" / "sub").mkdir()
    (root / "models" / "bert" / "sub" / "extra.pt").write_bytes(b"x")
    (root / "loose").mkdir()
    (root / "loose" / "clf.joblib").write_bytes(b"x")
    (root / "loose" / "notes.txt").write_text("not a model")
    make_cache(root / "cache")
    refs = discover([str(root)])
    kinds = {(r.kind, Path(r.location).name if r.kind != "hf-cache" else r.model) for r in refs}
    assert kinds == {("folder", "bert"), ("file", "clf.joblib"), ("hf-cache", "acme/tiny-bert")}
    loose = next(r for r in refs if r.kind == "file")
    assert loose.format == "joblib" and loose.flags == ("unsafe-deserialisation",)  # loading it unpickles it
    folder = next(r for r in refs if r.kind == "folder")
    assert folder.flags == ()
    assert folder.files == ("config.json", "pytorch_model.bin", "sub/extra.pt") and folder.format == "pytorch"


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        discover([str(tmp_path / "nope")])


def test_risk_and_priority() -> None:
    tiers = {"major/model": "major-lab", "someone/model": "anonymous"}.get
    pinned = Reference("code", "a.py:1", "major/model", "transformers.AutoModel.from_pretrained", COMMIT)
    risky = Reference(
        "code",
        "a.py:2",
        "someone/model",
        "torch.hub.load",
        "main",
        ("unpinned-revision", "unsafe-deserialisation", "remote-code"),
    )
    low = assess(pinned, tiers, Usage("low", "public", "offline"))
    high = assess(risky, tiers, Usage("critical", "restricted", "internet"))
    assert (low.rating, low.priority, low.tier) == ("low", "periodic", "major-lab")
    assert (high.rating, high.priority, high.tier) == ("critical", "immediate", "anonymous")
    unknown = assess(Reference("file", "/m.pkl", "/m.pkl"), tiers, Usage())
    assert unknown.tier == "unknown" and unknown.rating == "medium" and unknown.priority == "scheduled"


def test_usage_rules(tmp_path: Path) -> None:
    path = tmp_path / "usage.yaml"
    path.write_text(
        "- match: 'acme/*'\n  criticality: high\n  exposure: internet\n- match: '*'\n  criticality: low\n"
    )
    rules = load_usage_rules(path)
    assert rules == (UsageRule("acme/*", Usage("high", "", "internet")), UsageRule("*", Usage("low")))
    default = Usage("", "internal", "")
    ref = Reference("code", "x.py:1", "acme/m")
    assert usage_for(ref, rules, default) == Usage("high", "internal", "internet")
    path.write_text("- match: x\n  criticality: extreme\n")
    with pytest.raises(ConfigError, match="extreme"):
        load_usage_rules(path)


def test_reports_agree(tmp_path: Path) -> None:
    refs = discover([str(make_cache(tmp_path / "hub"))])
    assessed = [assess(r, lambda _: None, Usage()) for r in refs]
    doc = json.loads(report.InventoryJson().render(assessed))
    (row,) = list(csv.DictReader(io.StringIO(report.to_csv(assessed))))
    assert doc["models"][0]["model"] == row["model"] == "acme/tiny-bert"
    assert doc["models"][0]["revision"] == row["revision"] == COMMIT
    assert row["priority"] == doc["models"][0]["priority"]
    assert report.to_table(assessed).row_count == 1


def test_an_npz_past_the_member_limit_stays_listed_without_zipfile_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "arrays.npz"
    path.write_bytes(many_member_zip(100_001, "a{:07d}.npy"))

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("zipfile was asked to read a directory past the member limit")

    monkeypatch.setattr(zipfile.ZipFile, "__init__", refused)
    assert plain_npz(path) is False
