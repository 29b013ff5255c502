from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    def _write(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write
