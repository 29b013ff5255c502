"""A new user's first hour (issue 17, items 2, 3, 10, 11, 13, 14), run as a user runs them: the installed
command in a subprocess, stderr not a terminal, on the demo models written by scripts/make_demo.py."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "import sys; from modelseal.cli.app import console; sys.argv[0] = 'modelseal'; console()"


def import_path() -> str:
    """``PYTHONPATH`` made absolute: subprocesses import the modelseal this test imports, from any folder."""
    return os.pathsep.join(
        os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
    )


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = dict(os.environ, COLUMNS="80", NO_COLOR="1", HF_HUB_OFFLINE="1", PYTHONPATH=import_path())
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *map(str, args)],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("first-hour") / "demo"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_demo.py"), str(out)], timeout=60)
    assert done.returncode == 0
    return out


@pytest.fixture
def m1(demo: Path, tmp_path: Path) -> Path:
    shutil.copytree(demo / "benign" / "tiny-model", tmp_path / "m1")
    return tmp_path / "m1"


def _keys(folder: Path) -> tuple[Path, Path]:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = folder / "key.pem", folder / "key.pub"
    priv.write_bytes(key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


# 2: a lock that cannot pin every target writes nothing and says so, in one line


def test_lock_writes_nothing_when_a_target_fails_and_says_so(m1: Path, tmp_path: Path) -> None:
    done = run("lock", "m1", "missing-model", cwd=tmp_path)
    assert done.returncode == 2
    assert not (tmp_path / "modelseal.lock").exists()
    assert "locked" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "nothing written to modelseal.lock" in lines[0], done.stderr
    assert "1 of 2 targets were resolved" in lines[0]


# 3: one entry whatever path and folder name the model; no lockfile is "not found", exit 2


def test_lock_relative_then_verify_absolute_and_from_elsewhere(m1: Path, tmp_path: Path) -> None:
    assert run("lock", "m1", cwd=tmp_path).returncode == 0
    assert 'source = "m1"' in (tmp_path / "modelseal.lock").read_text()
    by_abs = run("verify", m1.resolve(), "--locked", cwd=tmp_path)
    assert by_abs.returncode == 0, by_abs.stdout + by_abs.stderr
    elsewhere = tmp_path / "ci"
    elsewhere.mkdir()
    from_ci = run("verify", "../m1", "--locked", "--lockfile", "../modelseal.lock", cwd=elsewhere)
    assert from_ci.returncode == 0, from_ci.stdout + from_ci.stderr
    (m1 / "config.json").write_text("{}")
    changed = run("verify", m1.resolve(), "--locked", cwd=tmp_path)
    assert changed.returncode == 1 and "changed: config.json" in changed.stdout


def test_verify_locked_without_a_lockfile_says_not_found(m1: Path, tmp_path: Path) -> None:
    done = run("verify", "m1", "--locked", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: lockfile not found: modelseal.lock"), done.stderr
    assert "no entry" not in done.stdout + done.stderr


# 10: an organisation's own publisher and local owner let a signed, locked in-house model into prod


def test_own_publisher_and_local_owner_let_a_signed_locked_model_into_prod(m1: Path, tmp_path: Path) -> None:
    priv, pub = _keys(tmp_path)
    assert run("lock", "m1", cwd=tmp_path).returncode == 0
    assert run("sign", "m1", "--private-key", priv, "--signature", "m1.sig", cwd=tmp_path).returncode == 0
    gate = ("gate", "m1", "--env", "prod", "--signature", "m1.sig", "--public-key", pub)
    unknown = run(*gate, "--audit-log", "a.db", cwd=tmp_path)
    assert unknown.returncode == 3 and "tier 'unknown'" in unknown.stdout, unknown.stdout
    (tmp_path / "modelseal.toml").write_text(
        '[provenance]\nown_publishers = ["acme"]\nlocal_owner = "acme"\n'
    )
    allowed = run(*gate, "--audit-log", "b.db", cwd=tmp_path)
    assert allowed.returncode == 0 and allowed.stdout.startswith("ALLOW"), allowed.stdout + allowed.stderr
    (tmp_path / "modelseal.toml").write_text('[provenance]\nlocal_owner = "acme/x"\n')
    bad = run(*gate, "--audit-log", "c.db", cwd=tmp_path)
    assert bad.returncode == 2 and "local_owner" in bad.stderr


def test_own_publishers_rank_their_hub_ids_as_organisation() -> None:
    from modelseal.provenance.config import ProvenanceConfig

    config = ProvenanceConfig.from_mapping({"own_publishers": ["acme"], "publishers": {"other": 1}})
    tier = config.tier_of("acme/fraud-detector")
    assert tier is not None and tier.name == "organisation"
    assert config.tier_of(None) is None  # no local_owner: a path has no publisher


# 11: inventory


def _npz(path: Path, descr: str) -> None:
    header = repr({"descr": descr, "fortran_order": False, "shape": (1,)}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * 8
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", npy)


def test_inventory_rates_from_the_scan_and_names_only_models(demo: Path, tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.mkdir()
    shutil.copy(demo / "malicious" / "checkpoint_with_payload.pt", services / "whole.pt")
    shutil.copy(demo / "benign" / "state_dict.pt", services / "weights.pt")
    _npz(services / "data.npz", "<f8")
    _npz(services / "objects.npz", "|O")
    (services / "app.py").write_text(
        'from transformers import AutoModel\nm = AutoModel.from_pretrained("bert-base-uncased")\n'
    )
    missing_cache = tmp_path / "home" / ".cache" / "huggingface" / "hub"
    done = run("inventory", "services", missing_cache, "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("warning: ") and "no Hugging Face cache" in done.stderr
    rows = {Path(r["location"]).name: r for r in json.loads(done.stdout)["models"]}
    assert "data.npz" not in rows and "objects.npz" in rows
    assert rows["whole.pt"]["rating"] == "critical"
    assert "unsafe-deserialisation" in rows["whole.pt"]["flags"]
    assert rows["weights.pt"]["flags"] == []
    assert rows["app.py:2"]["tier"] == "major-lab"


def test_inventory_hf_cache_alone(tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")
    done = run("inventory", "--hf-cache", cwd=tmp_path, env={"HF_HUB_CACHE": str(tmp_path / "none")})
    assert done.returncode == 0, done.stderr
    assert run("inventory", cwd=tmp_path).returncode == 4


# 13: keys, line wrapping, usage lines


def test_a_private_key_given_as_public_key_is_an_error(m1: Path, tmp_path: Path) -> None:
    priv, _ = _keys(tmp_path)
    assert run("sign", "m1", "--private-key", priv, "--signature", "m1.sig", cwd=tmp_path).returncode == 0
    done = run("verify", "m1", "--public-key", priv, "--signature", "m1.sig", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "not a PEM public key" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_error_lines_are_never_wrapped(tmp_path: Path) -> None:
    long = "a-model-folder-with-a-rather-long-name-" * 4
    done = run("lock", long, cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and long in done.stderr


def test_usage_lines_name_their_arguments(tmp_path: Path) -> None:
    for command, metavar in (("lock", "MODEL..."), ("inventory", "[PATH]..."), ("verify", "MODEL")):
        usage = run(command, "--help", cwd=tmp_path).stdout
        assert metavar in usage and "{models}" not in usage and "{model}" not in usage, usage


# 14: wording


def test_scan_summary_counts_in_the_singular(demo: Path, tmp_path: Path) -> None:
    done = run("scan", demo / "benign" / "state_dict.pt", "-o", tmp_path / "r.json", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr.startswith("modelseal: 1 file, 0 findings;"), done.stderr


def test_guard_names_itself_once(tmp_path: Path, demo: Path) -> None:
    shutil.copy(demo / "malicious" / "reduce_os_system.pkl", tmp_path / "evil.pkl")
    (tmp_path / "app.py").write_text("import pickle\npickle.load(open('evil.pkl', 'rb'))\n")
    done = subprocess.run(
        [sys.executable, "-m", "modelseal.guard", "app.py"],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=import_path()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("modelseal blocked pickle.load"), done.stderr


def test_bom_says_what_it_wrote(m1: Path, tmp_path: Path) -> None:
    pytest.importorskip("cyclonedx")
    done = run("bom", "m1", "-o", "m1.cdx.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "wrote the cyclonedx BOM of m1 to m1.cdx.json"
    to_stdout = run("bom", "m1", cwd=tmp_path)
    assert json.loads(to_stdout.stdout)["bomFormat"] == "CycloneDX"
    assert to_stdout.stderr.strip() == "wrote the cyclonedx BOM of m1 to stdout"


def test_a_corrupted_config_is_named_as_a_config_by_the_scan_reverify_runs(tmp_path: Path) -> None:
    """Item 12: a corrupted config.json is a configuration problem, not a tokenizer one."""
    from modelseal.api import scan

    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert",')
    (model / "tokenizer_config.json").write_text("{oops")
    rules = {(f.file, f.rule_id) for f in scan([model]).findings}
    assert ("config.json", "MS-CONFIG-MALFORMED") in rules
    assert ("tokenizer_config.json", "MS-TOKENIZER-MALFORMED") in rules
    assert ("config.json", "MS-TOKENIZER-MALFORMED") not in rules
    assert ("tokenizer_config.json", "MS-CONFIG-MALFORMED") not in rules
