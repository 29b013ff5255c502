"""The registry's command line, a contract scripts rely on: serve --migrate-only, admin token create,
upload, scan --upload and gate --server, against a live server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from modelseal.server.settings import ServerSettings
from tests.server.conftest import scan_report

ROOT = Path(__file__).resolve().parents[2]


def modelseal(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = "from modelseal.cli.app import main; main()"
    base = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=base | (env or {})
    )


def test_token_create_and_migrate_only(settings: ServerSettings) -> None:
    url = settings.database_url or ""
    done = modelseal("serve", "--migrate-only", "--database-url", url)
    assert done.returncode == 0, done.stderr
    made = modelseal("admin", "token", "create", "--project", "p", "--role", "viewer", "--database-url", url)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("mst_")
    assert (
        modelseal(
            "admin", "token", "create", "--project", "p", "--role", "root", "--database-url", url
        ).returncode
        == 4
    )


def test_upload_scan_upload_and_gate_server(
    live_server: tuple[str, str], settings: ServerSettings, tmp_path: Path
) -> None:
    base, _ = live_server
    url = settings.database_url or ""
    token = modelseal("admin", "token", "create", "--project", "ci", "--database-url", url).stdout.strip()
    env = {"MODELSEAL_TOKEN": token}
    report = tmp_path / "report.json"
    report.write_text(json.dumps(scan_report(tmp_path / "model")))
    uploaded = modelseal("upload", str(report), "--server", base, "--project", "ci", env=env)
    assert uploaded.returncode == 0, uploaded.stderr
    assert uploaded.stdout.startswith("block ")
    digest = json.loads(report.read_text())["targets"][0]["manifest_digest"]
    gated = modelseal("gate", digest, "--env", "staging", "--server", base, env=env)
    assert gated.returncode == 1 and gated.stdout.startswith("BLOCK"), gated.stdout + gated.stderr
    # a clean model, scanned and uploaded in one step, then gated by its path (hashed here)
    clean = tmp_path / "clean"
    scan_report(clean, malicious=False)
    scanned = modelseal(
        "scan", str(clean), "--upload", base, "--project", "ci", "-o", str(tmp_path / "r.json"), env=env
    )
    assert scanned.returncode == 0, scanned.stderr
    assert "uploaded to ci" in scanned.stderr
    assert modelseal("gate", str(clean), "--env", "dev", "--server", base, env=env).returncode == 0
    # another project's token sees nothing of it
    other = modelseal("admin", "token", "create", "--project", "other", "--database-url", url).stdout.strip()
    refused = modelseal("gate", digest, "--env", "dev", "--server", base, env={"MODELSEAL_TOKEN": other})
    assert refused.returncode == 2 and "HTTP 404" in refused.stderr


def test_scan_without_upload_imports_nothing_of_the_service(tmp_path: Path) -> None:
    path = tmp_path / "w.pkl"
    scan_report(tmp_path / "m", malicious=False)
    path.write_bytes((tmp_path / "m" / "weights.pkl").read_bytes())
    code = (
        "import sys; from modelseal.cli.scan import main; main([sys.argv[1], '-o', '/dev/null']);"
        "bad = [m for m in sys.modules if m.startswith(('fastapi', 'sqlalchemy', 'modelseal.server', "
        "'modelseal.store', 'modelseal.api.remote', 'urllib.request'))]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip().endswith("[]"), out.stdout + out.stderr


def test_upload_with_inspect_pictures(
    live_server: tuple[str, str], settings: ServerSettings, tmp_path: Path
) -> None:
    from tests.server.test_api import _png

    base, _ = live_server
    token = modelseal(
        "admin", "token", "create", "--project", "ci", "--database-url", settings.database_url or ""
    )
    env = {"MODELSEAL_TOKEN": token.stdout.strip()}
    report = tmp_path / "report.json"
    report.write_text(json.dumps(scan_report(tmp_path / "model")))
    (tmp_path / "mask-class4.png").write_bytes(_png())
    (tmp_path / "fake.png").write_bytes(b"<svg onload=alert(1)>")

    def upload(picture: str) -> subprocess.CompletedProcess[str]:
        args = (
            "upload",
            str(report),
            "--server",
            base,
            "--project",
            "ci",
            "--picture",
            str(tmp_path / picture),
        )
        return modelseal(*args, env=env)

    done = upload("mask-class4.png")
    assert done.returncode == 0, done.stderr
    assert "picture  mask-class4.png" in done.stdout
    refused = upload("fake.png")
    assert refused.returncode == 2
    assert "HTTP 422" in refused.stderr and "not a PNG" in refused.stderr
