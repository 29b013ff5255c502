"""The hub's own signals, read offline from answers laid out exactly as
``GET /api/models/{repo}/revision/{rev}?blobs=true&securityStatus=true`` returns them, parsed by
huggingface_hub's own ``ModelInfo``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from modelseal.advisories.hub import hub_signals
from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.config import Config
from modelseal.sources.interface import Resolved

from .conftest import REPO, REVISION

hf_api = pytest.importorskip("huggingface_hub.hf_api")

WEIGHTS = os.urandom(4000)
PICKLE = b"\x80\x04K\x01."


def _answer(weights_sha: str, issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "_id": "66aa00000000000000000001",
        "id": REPO,
        "modelId": REPO,
        "author": "acme",
        "sha": REVISION,
        "lastModified": "2026-01-01T00:00:00.000Z",
        "private": False,
        "disabled": False,
        "gated": False,
        "downloads": 12,
        "likes": 0,
        "tags": ["safetensors"],
        "siblings": [
            {
                "rfilename": "model.safetensors",
                "blobId": "1" * 40,
                "size": len(WEIGHTS),
                "lfs": {"sha256": weights_sha, "size": len(WEIGHTS), "pointerSize": 135},
            },
            {"rfilename": "pytorch_model.bin", "blobId": "2" * 40, "size": len(PICKLE)},
            {"rfilename": "config.json", "blobId": "3" * 40, "size": 2},
        ],
        "securityRepoStatus": {"scansDone": True, "filesWithIssues": issues},
    }


LOCAL = {
    "model.safetensors": "sha256:" + hashlib.sha256(WEIGHTS).hexdigest(),
    "pytorch_model.bin": "sha256:" + hashlib.sha256(PICKLE).hexdigest(),
    "config.json": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
}


def test_matching_record_and_clean_scan_give_nothing_but_are_recorded() -> None:
    info = hf_api.ModelInfo(**_answer(hashlib.sha256(WEIGHTS).hexdigest(), []))
    signals = hub_signals(info, LOCAL)
    assert signals.findings == () and signals.scans_done is True
    assert [(f.path, f.sha256, f.status) for f in signals.files] == [
        ("model.safetensors", LOCAL["model.safetensors"], ""),
        ("pytorch_model.bin", None, ""),
        ("config.json", None, ""),
    ]


def test_digest_mismatch_and_unsafe_status_are_findings() -> None:
    issues = [
        {
            "path": "pytorch_model.bin",
            "level": "unsafe",
            "pickleImports": [{"module": "os", "name": "system"}],
        },
        {"path": "config.json", "level": "suspicious"},
    ]
    info = hf_api.ModelInfo(**_answer("f" * 64, issues))
    found = sorted((f.rule_id, f.file, f.severity.label) for f in hub_signals(info, LOCAL).findings)
    assert found == [
        ("MS-ADVISORY-HUB-DIGEST-MISMATCH", "model.safetensors", "critical"),
        ("MS-ADVISORY-HUB-UNSAFE", "config.json", "medium"),
        ("MS-ADVISORY-HUB-UNSAFE", "pytorch_model.bin", "high"),
    ]


def test_scan_asks_the_hub_only_for_an_online_hub_resolution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelseal.advisories import hub
    from modelseal.api.advisories import target_findings

    asked: list[tuple[str, str]] = []

    def fake(repo_id: str, revision: str) -> Any:
        asked.append((repo_id, revision))
        return hf_api.ModelInfo(**_answer("f" * 64, []))

    monkeypatch.setattr(hub, "fetch_model_info", fake)
    path = tmp_path / "model.safetensors"
    path.write_bytes(WEIGHTS)
    artifact = Artifact(
        tmp_path, (FileEntry("model.safetensors", path, len(WEIGHTS), LOCAL["model.safetensors"]),)
    )
    online = Resolved(artifact, f"hf://{REPO}", REPO, REVISION, repo_uid="66aa")
    (finding,) = target_findings(online, artifact, None, Config())
    assert finding.rule_id == "MS-ADVISORY-HUB-DIGEST-MISMATCH" and asked == [(REPO, REVISION)]
    assert target_findings(online, artifact, None, Config(), offline=True) == []
    assert target_findings(Resolved(artifact, str(tmp_path), REPO, REVISION), artifact, None, Config()) == []
    assert len(asked) == 1
