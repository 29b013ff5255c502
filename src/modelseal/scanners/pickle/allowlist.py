"""Which callables a pickle may name: decided by allowlist, explained by gadget knowledge.

The shipped allowlist (``allowlist.json``) lists the exact ``module:qualname`` pairs that real torch,
numpy, scikit-learn, joblib and standard-library model files need. Users add their own classes through
configuration; a pattern there never reaches a known gadget, which needs an explicit waiver with a reason.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from modelseal.core.errors import ConfigError

# Python 2 names that pickle maps to Python 3 ones when fix_imports is on (facts from Lib/_compat_pickle.py).
_PY2_MODULES = {
    "__builtin__": "builtins",
    "copy_reg": "copyreg",
    "cPickle": "pickle",
    "exceptions": "builtins",
    "UserDict": "collections",
    "commands": "subprocess",
    "urllib2": "urllib.request",
}


@dataclass(frozen=True)
class Classification:
    """The verdict on one imported name."""

    allowed: bool
    dangerous: bool
    category: str = ""
    """Gadget category (``process``, ``code``, ``file``, ``network``, ``attribute``, ``unpickle``)."""
    explanation: str = ""
    waiver: str = ""
    """The reason a dangerous callable was waived, when it was."""


class _Gadgets(NamedTuple):
    """The gadget table (``gadgets.toml``): what makes a callable dangerous, and why."""

    modules: tuple[tuple[str, str, str], ...]  # (module prefix, category, explanation)
    names: Mapping[str, tuple[str, str]]  # "module:qualname" -> (category, explanation)
    walk_attrs: frozenset[str]
    walk_explanation: str
    final_names: frozenset[str]
    final_explanation: str

    def match(self, module: str, qualname: str) -> tuple[str, str] | None:
        hit = self.names.get(f"{module}:{qualname}")
        if hit:
            return hit
        full = f"{module}.{qualname}"
        for prefix, category, explanation in self.modules:
            if (
                module == prefix
                or module.startswith(prefix + ".")
                or full == prefix
                or full.startswith(prefix + ".")
            ):
                return category, explanation
        parts = qualname.split(".")
        if any(p in self.walk_attrs for p in parts):
            return "attribute", self.walk_explanation
        if parts[-1] in self.final_names:
            return "code", self.final_explanation
        if len(parts) > 1:  # "numpy:os.system": a module reached through another module's attribute
            for i in range(1, len(parts)):
                inner = self.match(".".join(parts[:i]), ".".join(parts[i:]))
                if inner:
                    return inner
        return None


def _data(name: str) -> str:
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


@functools.cache
def _gadgets() -> _Gadgets:
    from modelseal.core import toml

    data = toml.loads(_data("gadgets.toml"))
    modules: list[tuple[str, str, str]] = []
    names: dict[str, tuple[str, str]] = {}
    for category, body in data["categories"].items():
        for m in body.get("modules", []):
            modules.append((m, category, body["explanation"]))
        for n in body.get("names", []):
            names[n] = (category, body["explanation"])
    modules.sort(key=lambda t: -len(t[0]))
    walk = data["attribute_walk"]
    final = data["dangerous_final"]
    return _Gadgets(
        tuple(modules),
        names,
        frozenset(walk["names"]),
        walk["explanation"],
        frozenset(final["names"]),
        final["explanation"],
    )


@functools.cache
def _shipped() -> frozenset[tuple[str, str]]:
    """Read on the first imported name, not before: pure-data pickles never need it."""
    import json

    data = json.loads(_data("allowlist.json"))
    pairs: set[tuple[str, str]] = set()
    for section in data["libraries"].values():
        for entry in section["allow"]:
            module, _, qualname = entry.partition(":")
            pairs.add((module, qualname))
    return frozenset(pairs)


def _split(entry: str, origin: str) -> tuple[str, str]:
    module, sep, qualname = entry.partition(":")
    if not sep:  # "pkg.mod.Class" also accepted: last dot separates the name
        module, _, qualname = entry.rpartition(".")
    if not module or not qualname:
        raise ConfigError(f"{origin}: allowlist entry {entry!r} must look like 'package.module:Name'")
    return module, qualname


class Allowlist:
    """Shipped entries, user patterns, and waivers for named dangerous callables."""

    def __init__(
        self,
        extra: Iterable[str] = (),
        waivers: Mapping[str, str] | None = None,
        origin: str = "configuration",
    ) -> None:
        self._patterns = tuple(_split(e, origin) for e in extra)
        self._waivers: dict[tuple[str, str], str] = {}
        for entry, reason in (waivers or {}).items():
            if not reason or not reason.strip():
                raise ConfigError(f"{origin}: waiver for {entry!r} needs a reason")
            self._waivers[_split(entry, origin)] = reason.strip()
        self._cache: dict[tuple[str, str], Classification] = {}

    def classify(self, module: str, qualname: str) -> Classification:
        key = (module, qualname)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._classify(_PY2_MODULES.get(module, module), qualname)
            if len(self._cache) < 100_000:
                self._cache[key] = hit
        return hit

    def _classify(self, module: str, qualname: str) -> Classification:
        if (module, qualname) in _shipped():  # the shipped list holds no gadget (a test keeps it so)
            return Classification(True, False)
        gadget = _gadgets().match(module, qualname)
        if gadget:
            category, explanation = gadget
            waiver = self._waivers.get((module, qualname), "")
            return Classification(bool(waiver), True, category, explanation, waiver)
        for mod_pat, name_pat in self._patterns:
            # A pattern never crosses a dot in the name: "pkg:*" allows pkg.Net, not pkg:os.system.
            if (
                fnmatch.fnmatchcase(module, mod_pat)
                and "." not in qualname
                and fnmatch.fnmatchcase(qualname, name_pat)
            ):
                return Classification(True, False)
            if (module, qualname) == (mod_pat, name_pat):
                return Classification(True, False)
        return Classification(False, False)


@functools.cache
def default_allowlist() -> Allowlist:
    """The shipped allowlist with no user additions."""
    return Allowlist()
