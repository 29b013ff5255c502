"""User configuration: ``[tool.modelseal]`` in pyproject.toml, or a ``modelseal.toml`` file.

Example::

    [tool.modelseal]
    allow = ["mypkg.models:*", "mypkg.layers:Attention"]   # your own classes in pickles
    [tool.modelseal.limits]
    max_nesting_depth = 10
    [[tool.modelseal.waive]]                                # a dangerous callable, explicitly
    callable = "functools:partial"
    reason = "our schedulers pickle partials of allowlisted functions; reviewed by sec-team"
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelseal.core.errors import ConfigError
from modelseal.core.limits import Limits

CONFIG_NAMES = ("modelseal.toml", ".modelseal.toml")


@dataclass(frozen=True)
class Config:
    """The user's settings: allowlist additions, waivers of dangerous callables, limits, and the raw table
    for the areas that read their own keys."""

    allow: tuple[str, ...] = ()
    waive: tuple[tuple[str, str], ...] = ()
    """(callable, reason) pairs: dangerous callables explicitly accepted."""
    limits: Limits = field(default_factory=Limits)
    origin: str = "defaults"
    raw: dict[str, Any] = field(default_factory=dict)
    """The whole ``[tool.modelseal]`` table, for other stages (policy, reputation) to read their parts."""


def config_from_table(table: dict[str, Any], origin: str) -> Config:
    """The settings of a ``[tool.modelseal]`` table (``Config.raw`` of another process, a queue job's)."""
    return _from_table(table, origin)


def _from_table(table: dict[str, Any], origin: str) -> Config:
    allow = table.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise ConfigError(f"{origin}: 'allow' must be a list of 'module:Name' strings")
    waive_entries = table.get("waive", [])
    if not isinstance(waive_entries, list):
        raise ConfigError(f"{origin}: 'waive' must be an array of tables with 'callable' and 'reason'")
    waive: list[tuple[str, str]] = []
    for entry in waive_entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("callable"), str):
            raise ConfigError(f"{origin}: each [[waive]] needs a 'callable' string")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{origin}: waiver for {entry['callable']!r} needs a non-empty 'reason'")
        waive.append((entry["callable"], reason))
    limits_table = table.get("limits", {})
    if not isinstance(limits_table, dict):
        raise ConfigError(f"{origin}: 'limits' must be a table")
    return Config(tuple(allow), tuple(waive), Limits.from_mapping(limits_table, origin), origin, table)


def load_config(path: Path | None = None, start: Path | None = None) -> Config:
    """An explicit file, else the first modelseal.toml or pyproject.toml with a [tool.modelseal] table found
    from ``start`` (default: the working folder) upwards; defaults when there is none."""
    if path is not None:
        return _read(path, explicit=True) or Config()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in (*CONFIG_NAMES, "pyproject.toml"):
            candidate = folder / name
            if candidate.is_file():
                found = _read(candidate, explicit=False)
                if found is not None:
                    return found
    return Config()


def _read(path: Path, explicit: bool) -> Config | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
    if path.name == "pyproject.toml" and "modelseal" not in text:
        return Config() if explicit else None  # no [tool.modelseal] table: skip parsing the project's file
    from modelseal.core import toml  # only when there is a configuration to read

    try:
        data = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("modelseal")
        if table is None:
            return Config() if explicit else None
    else:
        table = data.get("tool", {}).get("modelseal", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.modelseal] must be a table")
    return _from_table(table, str(path))


def user_cache_folder() -> Path:
    """modelseal's folder in the user cache (platformdirs' rule; on Linux without importing it)."""
    if sys.platform.startswith("linux"):
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        return Path(xdg or Path.home() / ".cache") / "modelseal"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("modelseal", appauthor=False))
