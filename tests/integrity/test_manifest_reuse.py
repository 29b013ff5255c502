"""A manifest passed in is reused for its digests only: other ignore patterns still decide what is covered."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelseal.core import hashing
from modelseal.core.digestcache import FileKey
from modelseal.integrity.manifest import manifest_for
from modelseal.integrity.oms import Serialization, statement_for
from modelseal.sources.local import resolve_local


def test_statement_reuses_a_manifest_that_ignored_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "model.bin").write_bytes(b"weights")
    artifact = resolve_local(str(tmp_path))
    manifest = manifest_for(artifact)  # the default ignore leaves .git out
    serialization = Serialization(ignore_paths=())
    expected = statement_for(artifact, serialization)

    hashed: list[str] = []
    real = hashing._digest

    def counting(path: Path, *args: object, **kwargs: object) -> tuple[str, FileKey | None]:
        hashed.append(Path(path).name)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashing, "_digest", counting)
    statement = statement_for(artifact, serialization, manifest=manifest)

    assert statement == expected
    assert sorted(statement.digests()) == [".git/HEAD", "model.bin"]
    assert hashed == ["HEAD"]  # model.bin's digest came from the manifest
