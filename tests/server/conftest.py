"""The registry under test, on SQLite and on a throw-away PostgreSQL (Debian's package, started here as
the ``postgres`` user when the tests run as root). Reports are real scans of generated model folders whose
malicious pickles carry a harmless command and are never loaded."""

from __future__ import annotations

import itertools
import os
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient

from modelseal.server.app import create_app, ensure_admin
from modelseal.server.settings import ServerSettings
from tests.server.pg import create_database, free_port, pg_bin, throwaway_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server on a free loopback port for the session; its admin URL (no database)."""
    if pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with throwaway_postgres() as url:
        yield url


_databases = itertools.count()


def fresh_database(kind: str, postgres_url: str | None, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite'}"
    assert postgres_url is not None
    return create_database(postgres_url, f"registry_{os.getpid()}_{next(_databases)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every service test runs on both databases."""
    pg = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    return fresh_database(request.param, pg, tmp_path)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> ServerSettings:
    return ServerSettings(database_url=database_url, audit_log=tmp_path / "audit.sqlite", background=False)


@pytest.fixture
def client(settings: ServerSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def live_server(settings: ServerSettings) -> Iterator[tuple[str, str]]:
    """The app on uvicorn in a thread on a free port; (base URL, admin password)."""
    import uvicorn

    app = create_app(settings)
    password = ensure_admin(app.state.registry, reset=True)
    assert password
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/login")
    yield base, password
    srv.should_exit = True
    thread.join(10)


class _RunsCommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


HOSTILE = ("<script>window.__pwned=1</script>", '" onmouseover="window.__pwned=1" x="')


def hostile_pickle() -> bytes:
    """A pickle whose global names are markup: ``GLOBAL`` takes any text up to a newline."""
    body = b"".join(b"c" + b"builtins\n" + name.encode() + b"\n" + b"0" for name in HOSTILE)
    return b"\x80\x02" + body + b"N."


def scan_report(root: Path, *, malicious: bool = True, hostile: bool = False) -> dict[str, Any]:
    """A real ``modelseal scan --format json`` report of a generated model folder."""
    import json

    from modelseal.api import scan
    from modelseal.reports import ReportOptions, get_writer

    root.mkdir(parents=True, exist_ok=True)
    (root / "weights.pkl").write_bytes(pickle.dumps({"w": [0.5, 1.5]}, protocol=4))
    if malicious:
        (root / "model.pkl").write_bytes(pickle.dumps(_RunsCommand(), protocol=4))
    if hostile:
        (root / f"{HOSTILE[1]}.pkl").write_bytes(hostile_pickle())
        card = (
            "---\nbase_model:\n"
            + "".join(f"- '{h}'\n" for h in HOSTILE)
            + f"---\n# Model card\n\n{HOSTILE[0]}\n"
        )
        (root / "README.md").write_text(card)
    result = scan([root], digests=True)
    return dict(json.loads(get_writer("json", ReportOptions()).render(result)))


def admin_login(client: TestClient) -> str:
    """Log the test client in as a new admin; its CSRF token."""
    password = ensure_admin(client.app.state.registry, reset=True)  # type: ignore[attr-defined]
    return login(client, "admin", password or "")


def login(client: TestClient, user: str, password: str) -> str:
    import re

    response = client.post("/login", data={"username": user, "password": password}, follow_redirects=True)
    assert response.status_code == 200, response.text
    found = re.search(r'name="csrf" value="([^"]+)"', response.text)
    assert found is not None
    return found.group(1)


def wait_for(url: str, seconds: float = 20) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
