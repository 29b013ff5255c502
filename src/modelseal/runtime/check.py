"""Turning what a loader was handed (path, bytes, file object) into findings, before it reads a byte.

The scan is the same static scan as ``modelseal scan`` (nothing is executed); results are cached per
file identity (device, inode, size, mtime) so that a file loaded repeatedly is scanned once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from modelseal.core.config import Config
from modelseal.core.errors import ModelsealError
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding
from modelseal.runtime.lock import LockVerifier

Scanner = Callable[[str], Sequence[Finding]]
"""A static scan of one target (a path, or ``hf://org/name``) returning its findings."""


def static_scanner(config: Config) -> Scanner:
    """The static scan of :func:`modelseal.api.scan` without digests (the lock check hashes what it needs);
    fails closed when a target cannot be resolved."""
    from modelseal.api import scan

    def static_scan(target: str) -> Sequence[Finding]:
        try:
            return scan([target], config, digests=False).findings
        except ModelsealError as exc:
            return (_not_scanned(target, str(exc)),)
        except Exception as exc:  # a scanner bug must refuse the load, not let it through or crash it
            return (_not_scanned(target, f"the scanner failed: {type(exc).__name__}: {exc}"),)

    return static_scan


def _not_scanned(target: str, why: str) -> Finding:
    return make_finding(
        "MS-GUARD-NOT-SCANNED", f"could not scan what the loader was about to read: {why}", file=target
    )


class Checker:
    """Scans loader inputs with a cache; one per installed guard."""

    def __init__(self, scanner: Scanner, lock: LockVerifier | None = None) -> None:
        self._scanner = scanner
        self._lock = lock
        self._cache: dict[tuple[int, int, int, int], tuple[Finding, ...]] = {}
        self._mutex = threading.Lock()

    def path(self, path: Path) -> tuple[Finding, ...]:
        """Findings for a file or folder; nothing when it does not exist (the loader will say so)."""
        try:
            st = path.stat()
        except OSError:
            return ()
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if path.is_file():
            with self._mutex:
                hit = self._cache.get(key)
            if hit is not None:
                return hit
        found = tuple(self._scanner(str(path)))
        if self._lock is not None:
            found += tuple(self._lock(path))
        if path.is_file():
            with self._mutex:
                self._cache[key] = found
        return found

    def data(self, data: bytes | bytearray | memoryview, shown: str) -> tuple[Finding, ...]:
        """Findings for an in-memory payload (``pickle.loads``), scanned from a private temporary file."""
        with tempfile.TemporaryDirectory(prefix="modelseal-guard-") as tmp:
            spool = Path(tmp) / "payload"
            spool.write_bytes(data)
            return tuple(f.with_file(shown) for f in self._scanner(str(spool)))

    def hub(self, repo_id: str) -> tuple[Finding, ...]:
        """Findings for a hub repository id (``from_pretrained("org/name")``), resolved by the sources."""
        return tuple(self._scanner(f"hf://{repo_id}"))

    def stream(self, fileobj: IO[bytes], shown: str) -> tuple[tuple[Finding, ...], IO[bytes]]:
        """Findings for the rest of a file object, and the object the loader should read from instead:
        the same one rewound when it can seek, otherwise the private copy that was scanned."""
        start = _tell(fileobj)
        tmp = tempfile.mkdtemp(prefix="modelseal-guard-")
        try:
            copy = Path(tmp) / "stream"
            with copy.open("wb") as out:
                shutil.copyfileobj(fileobj, out, 1 << 20)
            findings = tuple(f.with_file(shown) for f in self._scanner(str(copy)))
            if start is not None:
                fileobj.seek(start)
                return findings, fileobj
            return findings, copy.open("rb")  # stays readable after its folder is removed
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _tell(fileobj: IO[bytes]) -> int | None:
    try:
        return fileobj.tell() if fileobj.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def describe_target(value: Any) -> str:
    if isinstance(value, (str, os.PathLike)):
        return repr(os.fspath(value))
    name = getattr(value, "name", None)
    return repr(name) if isinstance(name, str) else f"<{type(value).__name__}>"
