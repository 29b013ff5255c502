"""Every ``modelseal`` command in README.md and docs/*.md runs as written (issue 17, "Also").

The shell blocks (```bash, and the ``$ `` lines of ```console) are run in order, one document at a time, by
bash in a scratch folder holding the demo models under the names the docs use, with ``HOME`` and the XDG
folders inside it so nothing touches the user's own caches or audit log. ``modelseal`` is a shell function
calling this checkout's entry point. A command that cannot run here (network, a hub, a placeholder, an
extra's heavy library) is in ``SKIP`` with the reason; every other one must exit with the code in
``EXPECTED`` (0 when not listed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.cli.test_first_hour import import_path

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

SKIP = {
    "modelseal scan ./my-model/ ~/.cache/huggingface/hub/models--org--name/snapshots/<rev>": (
        "placeholder <rev>: a cache snapshot is scanned in tests/sources"
    ),
    "modelseal lock ./my-model hf://org/name@main": "needs the hub (network); the stand-in locks ./my-model",
    "modelseal inspect model.pt --data clean.npz --out trigger/": (
        "needs the behavior extra (torch) and a trained classifier: tests/behavior"
    ),
    "modelseal inspect-data model.pt --data train.npz": "needs the behavior extra (torch): tests/behavior",
    "modelseal inspect model.pt --data clean-samples.npz --out trigger/": "as above (docs/behavior.md)",
    "modelseal inspect-data model.pt --data train.npz --format json": "as above (docs/behavior.md)",
    "modelseal advisories sync https://example.org/model-advisories.zip ./PyPI/all.zip": (
        "needs the network (an OSV feed URL): tests/advisories sync local feeds"
    ),
    "modelseal serve": "a service that runs until stopped: tests/server start it and click through it",
    "modelseal serve --init-admin": "as above (prints the admin password, then serves)",
    "modelseal serve --database-url postgresql://user@db/modelseal --host 0.0.0.0 --port 8470": (
        "a service on a PostgreSQL host: tests/server run every service test on a throw-away PostgreSQL"
    ),
    "modelseal scan ./model --upload http://registry:8470 --project fraud-detection": (
        "needs a registry at registry:8470: tests/server/test_cli.py uploads to one on loopback"
    ),
    "modelseal upload report.json --server http://registry:8470 --project fraud-detection": "as above",
    "modelseal gate ./model --env prod --server http://registry:8470": "as above",
    "modelseal worker --queue postgresql://db/modelseal --concurrency 4": (
        "a worker on a PostgreSQL host, until stopped: tests/queue run workers on a throw-away PostgreSQL"
    ),
    "modelseal sweep /srv/hf-mirror --queue postgresql://db/modelseal --wait --format json -o sweep.json": (
        "needs a PostgreSQL host and a mirror: tests/queue sweep generated mirrors"
    ),
    "modelseal scan --queue postgresql://db/modelseal ./my-model": (
        "needs a PostgreSQL host with workers: tests/queue compare it with a local scan"
    ),
}
STAND_IN = {
    "modelseal lock ./my-model hf://org/name@main": "modelseal lock ./my-model",
    "modelseal advisories sync https://example.org/model-advisories.zip ./PyPI/all.zip": (
        "modelseal advisories sync ./PyPI/all.zip"
    ),
}
"""What runs instead of a skipped command that later commands depend on."""

EXPECTED = {
    # prod needs a signature it can check: the README's line gives no --public-key, so it asks for review
    "modelseal gate ./my-model --env prod --audit-log audit.db": 3,
    # docs/gate.md's example: not locked, so review
    "modelseal gate ./models/bert --env prod --public-key release.pub": 3,
}
NEEDS = {"sign": "cryptography", "verify": "cryptography", "bom": "cyclonedx", "names": "rapidfuzz"}
"""A command whose extra is not installed here is skipped (CI installs .[dev], which has them all)."""


def commands(doc: Path) -> list[str]:
    """The ``modelseal`` command lines of a document's shell blocks, comments stripped."""
    found: list[str] = []
    for lang, body in re.findall(r"```(bash|console)\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
        for raw in body.splitlines():
            line = raw.strip()
            if lang == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line.startswith("modelseal "):
                found.append(line)
    return found


def _scratch(tmp: Path) -> Path:
    """The demo models under the names the docs use, keys, and a small service with a load call."""
    demo = tmp / "demo"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_demo.py"), str(demo)], capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    work = tmp / "work"
    work.mkdir()
    benign = demo / "benign"
    shutil.copy(benign / "state_dict.pt", work / "model.pt")
    for name in ("my-model", "huge-model", "model"):
        shutil.copytree(benign / "tiny-model", work / name)
    shutil.copytree(benign, work / "models")
    shutil.copytree(benign / "tiny-model", work / "models" / "bert")
    shutil.copytree(demo / "malicious", work / "malicious")
    (work / "services").mkdir()
    (work / "services" / "app.py").write_text(
        'from transformers import AutoModel\nmodel = AutoModel.from_pretrained("bert-base-uncased")\n'
    )
    (work / "internal.txt").write_text("acme/*\n")
    _osv_dump(work / "PyPI" / "all.zip")
    if importlib.util.find_spec("cryptography") is not None:
        from cryptography.hazmat.primitives import serialization as s
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
        (work / "key.pem").write_bytes(pem)
        pub = key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)
        (work / "key.pub").write_bytes(pub)
        (work / "release.pub").write_bytes(pub)
    return work


def _osv_dump(path: Path) -> None:
    """``PyPI/all.zip`` as osv.dev serves it, with one advisory for a package nobody installs."""
    record = {
        "schema_version": "1.6.0",
        "id": "GHSA-docs-0000-0000",
        "modified": "2026-01-01T00:00:00Z",
        "summary": "an example advisory",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "modelseal-docs-example"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}],
            }
        ],
    }
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{record['id']}.json", json.dumps(record))


def _environment(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        HF_HUB_OFFLINE="1",
        NO_COLOR="1",
        PYTHONPATH=import_path(),
    )
    env.pop("HF_HOME", None)
    env.pop("HF_HUB_CACHE", None)
    return env


ENTRY = "import sys; from modelseal.cli.app import console; sys.argv[0] = 'modelseal'; console()"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_documented_command_runs_as_written(doc: Path, tmp_path: Path) -> None:
    lines = commands(doc)
    if not lines:
        pytest.skip(f"{doc.name} has no modelseal command in a shell block")
    work = _scratch(tmp_path)
    env = _environment(tmp_path)
    prelude = f'modelseal() {{ {sys.executable!r} -c "{ENTRY}" "$@"; }}\n'
    failures: list[str] = []
    for line in lines:
        run = STAND_IN.get(line, line)
        if line in SKIP and line not in STAND_IN:
            continue
        needed = NEEDS.get(line.split()[1])
        if needed and importlib.util.find_spec(needed) is None:
            continue
        done = subprocess.run(
            ["bash", "-c", prelude + run], cwd=work, env=env, capture_output=True, text=True, timeout=120
        )
        want = EXPECTED.get(line, 0)
        if done.returncode != want:
            failures.append(f"{run!r}: exit {done.returncode}, documented {want}\n{done.stderr[-600:]}")
    assert not failures, "\n".join(failures)


def test_the_tables_name_only_documented_commands() -> None:
    documented = {line for doc in DOCS for line in commands(doc)}
    stale = (set(SKIP) | set(EXPECTED) | set(STAND_IN)) - documented
    assert not stale, f"no longer in the docs: {sorted(stale)}"
    assert set(STAND_IN) <= set(SKIP)
