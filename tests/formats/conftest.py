from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A benign transformers-style repository, built once (see repo_fixtures)."""
    pytest.importorskip("transformers")
    from tests.formats.repo_fixtures import build_llama_repo

    return build_llama_repo(tmp_path_factory.mktemp("llama"))


@pytest.fixture
def repo(llama: Path, tmp_path: Path) -> Path:
    """A private copy of the benign repository to tamper with."""
    return Path(shutil.copytree(llama, tmp_path / "repo"))
