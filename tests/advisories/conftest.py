"""Feeds built by code in the OSV schema (each checked against the official schema the ``osv`` package ships),
a cache of the test's own, fake environments and a local OSV API server."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from collections.abc import Iterator
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = "acme/bad-model"
REVISION = "0" * 39 + "1"
MODIFIED = "2026-01-01T00:00:00Z"


@pytest.fixture(autouse=True)
def cache_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own advisory cache (never the user's)."""
    path = tmp_path / "advisory-cache" / "advisories.sqlite"
    monkeypatch.setenv("MODELSEAL_ADVISORY_CACHE", str(path))
    return path


OSV_WHEEL = "osv==0.0.22"
"""The ``osv`` package ships the official schema (``osv/osv-schema/validation/schema.json``). Installing it
would downgrade ``packaging`` and pull in Google Cloud, so it is not a dev dependency: the schema is read from
an installed copy, or from its wheel fetched with pip (no dependencies, nothing installed)."""
_MEMBER = "osv/osv-schema/validation/schema.json"


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any] | None:
    spec = importlib.util.find_spec("osv")  # located, not imported: the package pulls in Google Cloud
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "osv-schema" / "validation" / "schema.json"
        if path.is_file():
            return dict(json.loads(path.read_text(encoding="utf-8")))
    import subprocess
    import sys
    import tempfile
    import zipfile

    folder = Path(tempfile.mkdtemp(prefix="osv-schema-"))
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), OSV_WHEEL]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=180)
        (wheel,) = folder.glob("osv-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            return dict(json.loads(archive.read(_MEMBER)))
    except (subprocess.SubprocessError, OSError, ValueError, KeyError):
        return None


def validate(doc: dict[str, Any]) -> None:
    """Check ``doc`` against the official OSV JSON schema (skips when the ``osv`` package is absent)."""
    schema = _schema()
    if schema is None:
        pytest.skip(f"the official OSV schema ships in the {OSV_WHEEL} wheel, which pip could not fetch")
    import jsonschema

    jsonschema.validators.validator_for(schema)(schema).validate(doc)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def model_advisory(
    ident: str,
    *,
    files: tuple[str, ...] = (),
    manifests: tuple[str, ...] = (),
    modified: str = MODIFIED,
    withdrawn: str | None = None,
    severity: str | None = None,
    repo: str = REPO,
) -> dict[str, Any]:
    """A model advisory: the hub repository as a GIT package with a huggingface purl, the content digests
    under ``database_specific.modelseal``."""
    ours: dict[str, Any] = {"files": list(files), "manifests": list(manifests)}
    if severity:
        ours["severity"] = severity
    doc: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": modified,
        "published": MODIFIED,
        "summary": f"{repo} ships a pickle that runs a command on load",
        "affected": [
            {
                "package": {
                    "ecosystem": "GIT",
                    "name": f"https://huggingface.co/{repo}",
                    "purl": f"pkg:huggingface/{repo}@{REVISION}",
                },
                "versions": [REVISION],
                "database_specific": {"modelseal": ours},
            }
        ],
        "references": [{"type": "REPORT", "url": f"https://huggingface.co/{repo}/discussions/1"}],
    }
    if withdrawn:
        doc["withdrawn"] = withdrawn
    validate(doc)
    return doc


def package_advisory(
    ident: str,
    name: str,
    *,
    introduced: str = "0",
    fixed: str | None = None,
    last_affected: str | None = None,
    versions: tuple[str, ...] = (),
    summary: str = "",
    severity: str = "HIGH",
    modified: str = MODIFIED,
) -> dict[str, Any]:
    """A PyPI advisory as OSV's PyPI dump lays it out (GHSA style, severity word in database_specific)."""
    events: list[dict[str, str]] = [{"introduced": introduced}]
    if fixed:
        events.append({"fixed": fixed})
    if last_affected:
        events.append({"last_affected": last_affected})
    doc: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": modified,
        "published": MODIFIED,
        "aliases": [],
        "summary": summary or f"{name} vulnerability",
        "details": summary or f"{name} vulnerability",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name, "purl": f"pkg:pypi/{name}"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "versions": list(versions),
            }
        ],
        "database_specific": {"severity": severity},
        "references": [{"type": "ADVISORY", "url": f"https://example.invalid/{ident}"}],
    }
    validate(doc)
    return doc


def write_feed(folder: Path, docs: list[dict[str, Any]]) -> Path:
    """One JSON file per record, named by id, as OSV's dumps and advisory repositories lay them out."""
    folder.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (folder / f"{doc['id']}.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def write_dump(path: Path, docs: list[dict[str, Any]]) -> Path:
    """``PyPI/all.zip`` as osv.dev's GCS bucket serves it: one ``<id>.json`` per record."""
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for doc in docs:
            archive.writestr(f"{doc['id']}.json", json.dumps(doc))
    return path


def fake_site_packages(root: Path, **versions: str) -> Path:
    """A ``site-packages`` folder with only ``.dist-info`` metadata: what importlib.metadata reads."""
    for name, version in versions.items():
        info = root / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


class Server:
    """A local HTTP server on 127.0.0.1 in a thread; ``url`` is its base."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[Server] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> Server:
        servers.append(Server(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def osv_api_handler(records: list[dict[str, Any]]) -> type[BaseHTTPRequestHandler]:
    """The OSV API as https://google.github.io/osv.dev/api/ documents it: ``POST /v1/query``, ``POST
    /v1/querybatch`` (ids and modified only) and ``GET /v1/vulns/{id}``. It matches a version only by
    the records' ``versions`` lists (never by ranges), so it shares no code with what it tests."""
    by_id = {r["id"]: r for r in records}

    def matching(query: dict[str, Any]) -> list[dict[str, Any]]:
        name, version = query["package"]["name"], query["version"]
        return [
            r
            for r in records
            if any(
                a["package"]["ecosystem"] == "PyPI"
                and a["package"]["name"] == name
                and version in a["versions"]
                for a in r["affected"]
            )
        ]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/v1/query":
                found = matching(query)
                self._send(200, {"vulns": found} if found else {})
            elif self.path == "/v1/querybatch":
                results = []
                for q in query["queries"]:
                    found = [{"id": r["id"], "modified": r["modified"]} for r in matching(q)]
                    results.append({"vulns": found} if found else {})
                self._send(200, {"results": results})
            else:
                self._send(404, {"code": 5, "message": "Not Found"})

        def do_GET(self) -> None:
            ident = self.path.rsplit("/", 1)[-1]
            if self.path.startswith("/v1/vulns/") and ident in by_id:
                self._send(200, by_id[ident])
            else:
                self._send(404, {"code": 5, "message": "Bug not found."})

    return Handler
