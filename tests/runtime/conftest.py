"""Malicious fixtures are built here by code; their payload only creates a marker file in tmp."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelseal.core.config import Config
from modelseal.runtime import guard, unguard


class Payload:
    """Unpickling this runs ``exec`` on code that creates ``marker``; it must never happen under the guard."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('payload ran')",))


class ShellPayload(Payload):
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "payload-ran"


@pytest.fixture
def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps({"weights": [1.0, 2.0], "x": Payload(marker)}, protocol=4)


@pytest.fixture
def guarded() -> Iterator[None]:
    guard(config=Config())
    yield
    unguard()
