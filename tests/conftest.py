"""Every test run gets its own digest cache, so no test reads or fills the user's."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_digest_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    from modelseal.core.digestcache import ENV_PATH

    old = os.environ.get(ENV_PATH)
    os.environ[ENV_PATH] = str(tmp_path_factory.mktemp("digest-cache") / "digests.sqlite")
    yield
    if old is None:
        del os.environ[ENV_PATH]
    else:
        os.environ[ENV_PATH] = old
