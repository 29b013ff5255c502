"""One entry point from what the user typed to a :class:`Resolved`: the source is chosen by the scheme."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from modelseal.core.errors import SourceError
from modelseal.sources import SOURCES
from modelseal.sources.interface import Resolved, ResolveOptions, Source

__all__ = ["ResolveOptions", "Resolved", "resolve", "source_for", "source_key"]


def source_for(target: str) -> Source:
    """The source of ``target``: the one its scheme names; for a path, a cache snapshot's or a plain one."""
    for scheme, (module, cls) in SOURCES.items():
        if target.startswith(scheme):
            source: Source = getattr(import_module(module), cls)()
            return source
    if "://" in target:
        raise SourceError(f"{target}: unknown scheme; modelseal reads {', '.join(SOURCES)} and local paths")
    from modelseal.sources.hflayout import snapshot_parts

    if snapshot_parts(Path(target)) is not None:
        from modelseal.sources.hfcache import CacheSnapshotSource

        return CacheSnapshotSource()
    from modelseal.sources.local import LocalSource

    return LocalSource()


def source_key(target: str) -> str:
    """The lockfile key of a target without resolving it: ``hf://org/name`` without its revision, the
    bucket prefix, or the path as typed."""
    return source_for(target).lock_key(target)


def resolve(
    target: str, *, max_files: int = 1_000_000, offline: bool = False, cache_dir: Path | None = None
) -> Resolved:
    """Resolve ``target`` with the source its scheme selects; :class:`SourceError` if it cannot be."""
    return source_for(target).resolve(target, ResolveOptions(max_files, offline, cache_dir))
