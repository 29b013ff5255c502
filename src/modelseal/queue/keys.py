"""What a file's verdict is keyed by: its content, the scanner version, the configuration, and its name.

The name's last component is part of the key because a few checks read it (``requirements.txt``, a
``.json`` that holds pickle bytes); forks keep names, so dedup across them is whole.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from typing import Any

from modelseal import __version__
from modelseal.core.artifact import FileEntry
from modelseal.core.hashing import hash_file
from modelseal.sources.hfcache import content_name


def config_digest(raw: dict[str, Any]) -> str:
    """A digest of the whole configuration table (allowlist, waivers, limits, the rest)."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def content_of(entry: FileEntry) -> str:
    """The content digest: the cache's blob name when it is one (no read), else the file's SHA-256."""
    return content_name(entry.path) or hash_file(entry.path)


def verdict_key(content: str, relpath: str, config: str) -> str:
    basename = posixpath.basename(relpath).lower()
    return hashlib.sha256(f"{content}|{__version__}|{config}|{basename}".encode()).hexdigest()
