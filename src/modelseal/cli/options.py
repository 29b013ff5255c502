"""Options several command groups share, declared once so that they read the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Offline = Annotated[
    bool, typer.Option("--offline", help="hf:// only: use the local cache, never the network.")
]
CacheDir = Annotated[
    Path | None, typer.Option("--cache-dir", help="hf:// only: Hugging Face hub cache folder.")
]
