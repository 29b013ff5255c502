"""Model files for the CLI tests, generated here. Malicious ones carry a harmless command and are never
loaded: they are only written and scanned."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest


class _RunsCommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def malicious_pickle() -> bytes:
    return pickle.dumps(_RunsCommand(), protocol=4)


def benign_pickle() -> bytes:
    return pickle.dumps({"weight": [0.5, -1.25], "bias": [0.0], "step": 3}, protocol=4)


TRUNCATED_PICKLE = pickle.dumps({"a": list(range(10))}, protocol=4)[:-7]
"""Cannot be parsed to its end: a finding (high), never an error."""
OWN_CLASS_PICKLE = b"\x80\x02cmypkg.models\nNet\n)R."
"""Calls ``mypkg.models.Net()``: unknown to the allowlist unless the user's configuration adds it."""


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A folder with one malicious, one benign and one damaged pickle."""
    root = tmp_path / "models"
    root.mkdir()
    (root / "evil.pkl").write_bytes(malicious_pickle())
    (root / "good.pkl").write_bytes(benign_pickle())
    (root / "damaged.bin").write_bytes(TRUNCATED_PICKLE)
    return root


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    path = tmp_path / "clean.pkl"
    path.write_bytes(benign_pickle())
    return path
