"""The last line: a PEP 578 audit hook that vets every global any unpickler in the process imports.

It catches loaders the guard did not wrap (``from pickle import load`` done earlier, a library's own
Unpickler subclass, ``pickle.Unpickler`` used directly). Audit hooks cannot be removed, so the hook is
installed once and consults the active guard; after ``unguard()`` it does nothing.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any, Protocol

from modelseal.core.rules import make_finding
from modelseal.runtime.errors import GuardWarning, ModelBlocked, describe


class Verdict(Protocol):
    @property
    def allowed(self) -> bool: ...
    @property
    def dangerous(self) -> bool: ...
    @property
    def category(self) -> str: ...
    @property
    def explanation(self) -> str: ...


class Classifier(Protocol):
    def classify(self, module: str, qualname: str) -> Verdict: ...


Policy = Callable[[], tuple[Classifier, bool] | None]
"""Returns the active allowlist and whether to block (False: warn), or None when no guard is active."""

_installed: list[Policy] = []


def install(policy: Policy) -> None:
    """Route ``pickle.find_class`` events to ``policy``; the hook itself is added only once."""
    _installed[:] = [policy]
    if getattr(sys, "_modelseal_audit_hook", False):
        return
    sys.addaudithook(_hook)
    sys._modelseal_audit_hook = True  # type: ignore[attr-defined]


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "pickle.find_class" or not _installed:
        return
    active = _installed[0]()
    if active is None:
        return
    allowlist, block = active
    module, name = str(args[0]), str(args[1])
    verdict = allowlist.classify(module, name)
    if verdict.allowed:
        return
    why = verdict.explanation if verdict.dangerous else "it is not on the allowlist"
    finding = make_finding(
        "MS-GUARD-PICKLE-GLOBAL",
        f"an unpickler tried to import {module}.{name}: {why}",
        evidence=f"{module} {name}" + (f" ({verdict.category})" if verdict.category else ""),
    )
    if block:
        raise ModelBlocked("pickle.find_class", f"{module}.{name}", (finding,))
    warnings.warn(GuardWarning(describe((finding,))), stacklevel=2)
