"""Which callables a pickle may name: decided by allowlist, explained by gadget knowledge.

The shipped allowlist (``allowlist.json``) lists the exact ``module:qualname`` pairs that real torch,
numpy, scikit-learn, joblib and standard-library model files need. Each library section has ``allow`` (safe
to call with any arguments, and to rebuild) and an optional ``rebuild`` (classes safe only when rebuilt by
``__new__`` plus state assignment: NEWOBJ, copyreg reconstructors, BUILD; called with chosen arguments they
count as unknown callables). Users add their own classes through configuration; a pattern there never
reaches a known gadget, which needs an explicit waiver with a reason.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    rebuild: bool = False
    """Safe when rebuilt from state (``__new__`` plus assignment), though not when called (``allowed``)."""


# The tables below are plain classes built from their files, not NamedTuples or dataclasses: creating a
# record class costs about as much as scanning a small file, and every scan imports this module.
class _Gadgets:
    """The gadget table (``gadgets.toml``): what makes a callable dangerous, and why."""

    __slots__ = (
        "file_methods",
        "final_explanation",
        "final_names",
        "modules",
        "names",
        "walk_attrs",
        "walk_explanation",
    )

    def __init__(self, data: Mapping[str, Any]) -> None:
        modules: list[tuple[str, str, str]] = []  # (module prefix, category, explanation), longest first
        names: dict[str, tuple[str, str]] = {}  # "module:qualname" -> (category, explanation)
        for category, body in data["categories"].items():
            for m in body.get("modules", []):
                modules.append((m, category, body["explanation"]))
            for n in body.get("names", []):
                names[n] = (category, body["explanation"])
        modules.sort(key=lambda t: -len(t[0]))
        walk, final, methods = data["attribute_walk"], data["dangerous_final"], data["file_methods"]
        self.modules = tuple(modules)
        self.names = names
        self.walk_attrs: frozenset[str] = frozenset(walk["names"])
        self.walk_explanation: str = walk["explanation"]
        self.final_names: frozenset[str] = frozenset(final["names"])
        self.final_explanation: str = final["explanation"]
        self.file_methods = (frozenset(methods["modules"]), frozenset(methods["names"]))  # (modules, methods)

    def match(self, module: str, qualname: str) -> tuple[str, str] | None:
        hit = self.names.get(f"{module}:{qualname}")
        if hit:
            return hit
        method_modules, methods = self.file_methods
        if module in method_modules and "." in qualname and qualname.rpartition(".")[2] in methods:
            return self.names["builtins:open"]
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
def _gadget_table() -> dict[str, Any]:
    """``gadgets.toml`` (the reviewed source), read once for the gadget table and the call semantics from
    ``gadgets.json``, which ``tools/gen_gadgets.py`` writes from it: parsing TOML cost every scan of a
    pickle about 11 ms. ``tests/scanners/test_gadgets_json.py`` checks the two agree."""
    import json

    table: dict[str, Any] = json.loads(_data("gadgets.json"))
    return table


@functools.cache
def _gadgets() -> _Gadgets:
    return _Gadgets(_gadget_table())


class CallSemantics:
    """What the symbolic machine must know of a few callables to judge each call on its own arguments."""

    __slots__ = ("calls_arguments", "returns_callable")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.calls_arguments: Mapping[tuple[str, str], tuple[int, ...]] = {
            _split(k, "gadgets.toml"): tuple(v) for k, v in data["calls_arguments"].items()
        }
        """Callables that call the argument at these positions."""
        self.returns_callable: frozenset[tuple[str, str]] = frozenset(
            _split(n, "gadgets.toml") for n in data["returns_callable"]["names"]
        )
        """Callables that hand back a callable: safe exactly when nothing in the pickle calls the result."""


def walk_attributes() -> frozenset[str]:
    """Attribute names that reach interpreter internals (``__globals__``, ``__subclasses__`` ...)."""
    return _gadgets().walk_attrs


@functools.cache
def call_semantics() -> CallSemantics:
    return CallSemantics(_gadget_table())


class _Shipped:
    """The shipped allowlist (``allowlist.json``): names safe to call, and classes safe only to rebuild."""

    __slots__ = ("allow", "rebuild", "str_like")

    def __init__(self, data: Mapping[str, Any]) -> None:
        sections = data["libraries"].values()
        self.allow = frozenset(_pairs(e for s in sections for e in s["allow"]))
        self.rebuild = frozenset(_pairs(e for s in sections for e in s.get("rebuild", ())))
        self.str_like = frozenset(_pairs(e for s in sections for e in s.get("str_like", ())))
        """Classes of the two lists whose objects are strings (``str`` or ``bytes`` subclasses)."""


@functools.cache
def _shipped() -> _Shipped:
    """Read on the first imported name, not before: pure-data pickles never need it."""
    import json

    return _Shipped(json.loads(_data("allowlist.json")))


def _pairs(entries: Iterable[str]) -> Iterator[tuple[str, str]]:
    for entry in entries:
        module, _, qualname = entry.partition(":")
        yield module, qualname


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
        rebuild: Iterable[str] = (),
    ) -> None:
        self._patterns = tuple(_split(e, origin) for e in extra)
        self._rebuild = frozenset(_split(e, origin) for e in rebuild)
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
        shipped = _shipped()
        key = (module, qualname)
        if key in shipped.allow:  # the shipped list holds no gadget (a test keeps it so)
            return Classification(True, False)
        gadget = _gadgets().match(module, qualname)
        if gadget:
            category, explanation = gadget
            waiver = self._waivers.get(key, "")
            return Classification(bool(waiver), True, category, explanation, waiver)
        if key in shipped.rebuild or key in self._rebuild:
            return Classification(False, False, rebuild=True)
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

    def makes_no_str(self, module: str, qualname: str) -> bool:
        """Whether a shipped class is known to make objects that are not strings (a loader refuses them as
        the names STACK_GLOBAL reads); a class the shipped lists do not hold may make anything."""
        shipped = _shipped()
        key = (_PY2_MODULES.get(module, module), qualname)
        return (key in shipped.allow or key in shipped.rebuild) and key not in shipped.str_like

    def extended(self, extra: Iterable[str]) -> Allowlist:
        """This allowlist with more patterns (TorchScript adds its compiled ``__torch__`` classes)."""
        wider = Allowlist(origin="scanner")
        wider._patterns = self._patterns + tuple(_split(e, "scanner") for e in extra)
        wider._waivers = self._waivers
        wider._rebuild = self._rebuild
        return wider


@functools.cache
def default_allowlist() -> Allowlist:
    """The shipped allowlist with no user additions."""
    return Allowlist()
