"""Options several command groups share, declared once so that they read the same everywhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

Offline = Annotated[
    bool, typer.Option("--offline", help="hf:// only: use the local cache, never the network.")
]
NoDigestCache = Annotated[
    bool,
    typer.Option(
        "--no-digest-cache",
        help="Read every file: neither use nor fill the digest cache (also MODELSEAL_NO_DIGEST_CACHE=1).",
    ),
]
CacheDir = Annotated[
    Path | None, typer.Option("--cache-dir", help="hf:// only: Hugging Face hub cache folder.")
]


def digest_cache_off(off: bool) -> None:
    """``--no-digest-cache`` for commands whose hashing runs deep inside the scan, in worker processes too:
    through the variable they all read."""
    if off:
        from modelseal.core.digestcache import ENV_OFF

        os.environ[ENV_OFF] = "1"
