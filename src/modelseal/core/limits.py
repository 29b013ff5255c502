"""Bounds on every resource a hostile file could make a scanner spend.

Limits are configuration (``[tool.modelseal.limits]``) with defaults that are safe for real models:
large enough for a 100 GB checkpoint, small enough that a bomb is caught early.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from modelseal.core.errors import ConfigError

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Every bound a scan observes; exceeding one is a finding (``MS-LIMIT-EXCEEDED``), never a pass."""

    max_nesting_depth: int = 8
    """Containers inside containers (zip in tar in gzip ...), and pickles inside pickles."""
    max_members: int = 100_000
    """Members of one archive."""
    max_decompressed_bytes: int = 64 * GiB
    """Bytes produced by decompression over one top-level file."""
    max_compression_ratio: int = 1000
    """Decompressed/compressed ratio above which a member over ``bomb_min_bytes`` counts as a bomb."""
    bomb_min_bytes: int = 256 * MiB
    max_pickle_stack: int = 1_000_000
    max_pickle_memo: int = 10_000_000
    max_pickle_memo_bytes: int = 96 * MiB
    """Estimated bytes the memo of one pickle may hold (entries and the values they keep alive)."""
    max_pickle_ops: int = 200_000_000
    max_pickle_line: int = 1 * MiB
    """Longest protocol-0 text argument (GLOBAL names, INT, STRING lines)."""
    max_inline_bytes: int = 1 * MiB
    """Byte/str payloads up to this size are kept for analysis; larger ones are skipped by seeking."""
    max_pickles_per_stream: int = 1024
    max_files: int = 1_000_000
    max_header_bytes: int = 100 * MiB
    """Largest header (npy, safetensors, config) parsed into memory."""
    max_seconds_per_file: float = 600.0
    max_reread_bytes: int = 4 * GiB
    """Bytes of a stream that cannot seek (a decompressed or tar member) kept on disk to read it a second
    time, as a second loader would (joblib's reading of a pickle)."""

    @classmethod
    def from_mapping(cls, data: dict[str, Any], origin: str = "configuration") -> Limits:
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in known:
                known_list = ", ".join(sorted(known))
                raise ConfigError(f"{origin}: unknown limit {key!r}; known limits: {known_list}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{origin}: limit {key!r} must be a positive number, got {value!r}")
            values[name] = value
        return replace(cls(), **values)
