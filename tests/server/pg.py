"""A throw-away PostgreSQL from Debian's package, for the tests and bench/bench_server.py.

PostgreSQL refuses to run as root (CI runs as root), so ``initdb`` and ``pg_ctl`` run as the ``postgres``
user the package creates, in a temporary folder, on a free loopback port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A running throw-away server: its URL without a database name, and a way to restart it."""

    def __init__(self, bin_dir: Path, root: Path, options: str, as_postgres: list[str]) -> None:
        self.bin_dir, self.root, self.options, self.as_postgres = bin_dir, root, options, as_postgres
        self.url = ""

    def ctl(self, *args: str) -> None:
        cmd = [str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), *args]
        subprocess.run([*self.as_postgres, *cmd], check=True, capture_output=True)

    def start(self) -> None:
        self.ctl("-o", self.options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self.ctl("-m", "immediate", "stop")


@contextmanager
def postgres_server(durable: bool = False) -> Iterator[Server]:
    """A running server. ``durable`` keeps fsync on (the bench)."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="modelseal-pg-"))
    data, port = root / "data", free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"]
    subprocess.run([*as_postgres, *initdb], check=True, capture_output=True)
    options = f"-h 127.0.0.1 -p {port} -k {root} -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off"
    server = Server(bin_dir, root, options, as_postgres)
    server.url = f"postgresql://postgres@127.0.0.1:{port}"
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def throwaway_postgres(durable: bool = False) -> Iterator[str]:
    """A running server; its URL without a database name. ``durable`` keeps fsync on (the bench)."""
    with postgres_server(durable) as server:
        yield server.url


def create_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url}/{name}"
