"""``modelseal gate`` end to end: real scan, lockfile, signature and reputation inputs, real audit log."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from modelseal.audit.log import Entry, read_log
from modelseal.audit.verify import verify_log
from tests.policy.helpers import bad_model, good_model, isolate, make_cache, run_cli

COMMIT = "c" * 40


run = run_cli


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


def entries(tmp_path: Path) -> list[tuple[str, dict[str, object]]]:
    return [(e.kind, e.data) for e in (Entry.parse(r) for _, r in read_log(tmp_path / "audit.sqlite").rows)]


def test_dev_allows_a_clean_model_and_logs_it(tmp_path: Path) -> None:
    code, out = run("gate", str(good_model(tmp_path / "m")), "--env", "dev")
    assert code == 0, out
    assert out.startswith("ALLOW")
    ((kind, data),) = entries(tmp_path)
    assert kind == "verdict" and data["verdict"] == "allow" and data["environment"] == "dev"
    assert verify_log(tmp_path / "audit.sqlite").ok


def test_prod_needs_review_for_unsigned_unlocked_unknown(tmp_path: Path) -> None:
    code, out = run("gate", str(good_model(tmp_path / "m")), "--env", "prod")
    assert code == 3, out
    assert (
        "[review] prod-signature" in out
        and "[review] prod-lockfile" in out
        and "[review] prod-reputation" in out
    )


def test_prod_blocks_a_dangerous_pickle_that_dev_only_warns_about(tmp_path: Path) -> None:
    model = str(bad_model(tmp_path / "bad"))
    code, out = run("gate", model, "--env", "prod")
    assert code == 1 and "[block] prod-high-findings" in out
    code, out = run("gate", model, "--env", "dev")
    assert code == 1 and "[block] dev-critical-findings" in out
    assert not (tmp_path / "marker").exists()


def _signed_locked_cache_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hf: bool) -> tuple[str, Path]:
    """A tier-1 publisher's model in a hub cache, signed (model.sig) and locked; the target is the
    snapshot folder, or ``hf://google/tiny@<commit>`` resolved offline from that cache."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from huggingface_hub import constants

    from modelseal.integrity.lockfile import Lockfile, lock_entry, write_lock
    from modelseal.integrity.manifest import manifest_for
    from modelseal.integrity.signing import sign
    from modelseal.sources.local import resolve_local

    cache = make_cache(tmp_path / "hub", "google/tiny", COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    snapshot = cache / "models--google--tiny" / "snapshots" / COMMIT
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "key.pem").write_bytes(pem)
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "key.pub").write_bytes(pub)
    (snapshot / "model.sig").write_text(sign(resolve_local(str(snapshot)), tmp_path / "key.pem").to_json())
    manifest = manifest_for(resolve_local(str(snapshot)))
    if hf:
        entry = lock_entry("hf://google/tiny", manifest, revision=COMMIT)
    else:
        entry = lock_entry(snapshot.as_posix(), manifest)
    write_lock(tmp_path / "modelseal.lock", Lockfile((entry,)))
    return (f"hf://google/tiny@{COMMIT}" if hf else str(snapshot)), tmp_path / "key.pub"


@pytest.mark.parametrize("hf", [False, True])
def test_prod_allows_signed_locked_reputable_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hf: bool
) -> None:
    target, pub = _signed_locked_cache_model(tmp_path, monkeypatch, hf)
    code, out = run(
        "gate", target, "--env", "prod", "--public-key", str(pub), "--format", "json", stdout_only=True
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["verdict"] == "allow" and doc["reasons"] == []
    facts = entries(tmp_path)[-1][1]["facts"]
    assert facts["signature"]["state"] == "verified" and facts["lock"]["state"] == "verified"  # type: ignore[index]
    assert facts["tier"] == "major-lab" and facts["publisher"] == "google"  # type: ignore[index]


@pytest.mark.parametrize("hf", [False, True])
def test_drift_after_locking_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hf: bool) -> None:
    target, pub = _signed_locked_cache_model(tmp_path, monkeypatch, hf)
    blob = (tmp_path / "hub" / "models--google--tiny" / "snapshots" / COMMIT / "config.json").resolve()
    blob.write_text('{"model_type": "evil"}')
    code, out = run("gate", target, "--env", "prod", "--public-key", str(pub))
    assert code == 1, out
    assert "[block] prod-signature" in out and "[block] prod-lockfile" in out


def test_waiver_in_policy_file(tmp_path: Path) -> None:
    from modelseal.core.hashing import hash_file

    model = bad_model(tmp_path / "bad")
    digest = hash_file(model / "model.pkl")
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""modelseal-policy: 1
environments:
  prod:
    rules:
      - {{id: high, check: findings, severity: high}}
waivers:
  - rule: MS-PICKLE-DANGEROUS-CALLABLE
    digest: {digest}
    justification: test fixture, reviewed
    approver: sec@example.com
    expires: 2999-01-01
""")
    code, out = run("gate", str(model), "--env", "prod", "--policy", str(policy))
    assert code == 0, out
    assert "[waived] MS-PICKLE-DANGEROUS-CALLABLE" in out
    assert [k for k, _ in entries(tmp_path)] == ["waiver", "verdict"]
    policy.write_text(policy.read_text().replace("2999-01-01", "2020-01-01"))
    code, out = run("gate", str(model), "--env", "prod", "--policy", str(policy))
    assert code == 1 and "[expired waiver]" in out


def test_bypass_is_logged(tmp_path: Path) -> None:
    model = str(bad_model(tmp_path / "bad"))
    code, out = run(
        "gate",
        model,
        "--env",
        "prod",
        "--bypass-reason",
        "INC-42 rollback",
        "--bypass-identity",
        "oncall@example.com",
    )
    assert code == 0 and "EMERGENCY BYPASS" in out
    kinds = entries(tmp_path)
    assert [k for k, _ in kinds] == ["bypass", "verdict"]
    assert kinds[0][1]["identity"] == "oncall@example.com" and kinds[0][1]["evaluated"] == "block"
    assert kinds[1][1]["verdict"] == "allow" and kinds[1][1]["evaluated"] == "block"


def test_bypass_needs_both_fields(tmp_path: Path) -> None:
    code, out = run("gate", str(bad_model(tmp_path / "bad")), "--env", "prod", "--bypass-reason", "x")
    assert code == 4 and "reason and an identity" in out
    assert not (tmp_path / "audit.sqlite").exists()


def test_malformed_policy_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "modelseal-policy: 1\nenvironments:\n  prod:\n    rules:\n      - {id: x, check: nope}\n"
    )
    code, out = run("gate", str(good_model(tmp_path / "m")), "--env", "prod", "--policy", str(policy))
    assert code == 2 and f"{policy}:5" in out


def test_unknown_environment_and_missing_model_are_errors(tmp_path: Path) -> None:
    model = str(good_model(tmp_path / "m"))
    assert run("gate", model, "--env", "qa")[0] == 2
    assert run("gate", str(tmp_path / "missing"), "--env", "dev")[0] == 2
    assert run("gate", model)[0] != 0  # --env is required


def test_corrupted_audit_log_blocks(tmp_path: Path) -> None:
    model = str(good_model(tmp_path / "m"))
    assert run("gate", model, "--env", "dev")[0] == 0
    log = tmp_path / "audit.sqlite"
    log.write_bytes(log.read_bytes()[:100])
    code, out = run("gate", model, "--env", "dev")
    assert code == 1 and "audit log unusable" in out


def test_tampered_audit_log_blocks(tmp_path: Path) -> None:
    model = str(good_model(tmp_path / "m"))
    assert run("gate", model, "--env", "dev")[0] == 0
    conn = sqlite3.connect(tmp_path / "audit.sqlite")
    with conn:
        conn.execute("UPDATE entries SET record = replace(record, 'allow', 'block')")
    conn.close()
    code, out = run("gate", model, "--env", "dev")
    assert code == 1 and "tampered" in out
    code, out = run("audit", "verify")
    assert code == 1 and "entry 0 was edited" in out


def test_audit_commands(tmp_path: Path) -> None:
    model = str(good_model(tmp_path / "m"))
    for _ in range(3):
        assert run("gate", model, "--env", "dev")[0] == 0
    code, out = run("audit", "verify", "--json", stdout_only=True)
    assert code == 0 and json.loads(out)["size"] == 3
    code, note = run("audit", "checkpoint", stdout_only=True)
    assert code == 0 and note.startswith("modelseal-audit\n3\n")
    (tmp_path / "saved.checkpoint").write_text(note)
    code, out = run("audit", "prove", "1", "--from-size", "2", stdout_only=True)
    doc = json.loads(out)
    from modelseal.audit import proofs

    root = bytes.fromhex(doc["root"])
    proofs.verify_inclusion(
        1, 3, bytes.fromhex(doc["leaf_hash"]), [bytes.fromhex(h) for h in doc["inclusion"]], root
    )
    c = doc["consistency"]
    proofs.verify_consistency(
        2, 3, bytes.fromhex(c["old_root"]), root, [bytes.fromhex(h) for h in c["proof"]]
    )
    code, out = run("audit", "show", "--last", "1", stdout_only=True)
    assert code == 0 and json.loads(out)["index"] == 2
    assert run("audit", "verify", "--trusted-checkpoint", str(tmp_path / "saved.checkpoint"))[0] == 0
    os.remove(tmp_path / "audit.sqlite")
    assert run("audit", "verify")[0] == 1
