"""The queue under test: a throw-away PostgreSQL (Debian's package, run as ``postgres`` when root), a fresh
database per test, and real ``modelseal worker`` processes with short timings."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("procrastinate")
pytest.importorskip("psycopg")

from tests.server.pg import Server, create_database, pg_bin, postgres_server

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--keep-jobs", "--poll", "0.2", "--heartbeat", "0.5", "--stalled-after", "2", "--backoff", "1"]
"""Worker timings that keep each test to seconds (defaults are minutes-scale for real deployments)."""


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    if pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server() as server:
        yield server


_names = itertools.count()


@pytest.fixture
def queue_url(pg_server: Server) -> str:
    return create_database(pg_server.url, f"queue_{os.getpid()}_{next(_names)}")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from modelseal.cli.app import main; main()", *args]


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


class Workers:
    """``modelseal worker`` processes, each in its own process group (its scanning processes with it)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            cli("worker", "--queue", self.url, *FAST, *extra), env=env(), start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> list[int | None]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: list[int | None] = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(20))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                codes.append(None)
        for proc in self.procs:  # leftovers of a killed group (fork server, slots)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        return codes


@pytest.fixture
def workers(queue_url: str) -> Iterator[Workers]:
    w = Workers(queue_url)
    yield w
    w.stop_all()


def wait_until(check: Callable[[], Any], seconds: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = check()
        except Exception:  # the database restarting, a table not created yet
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.2)


def query(url: str, sql: str, *params: object) -> list[dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return list(conn.execute(sql, params))
