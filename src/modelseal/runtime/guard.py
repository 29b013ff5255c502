"""``modelseal.guard()``: every model loader in this process scans its input before it loads.

Two lines of defence. The wrapped loaders (:mod:`.patches`) scan the whole file statically and refuse
it by policy; the audit hook (:mod:`.audit`) vets each global an unpickler imports, whichever way the
unpickler was reached. Nested loader calls (``torch.load`` calling ``pickle.load`` on the same file) are
not scanned again: the outermost call already scanned everything it will read.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelseal.core.config import Config, load_config
from modelseal.core.errors import ConfigError
from modelseal.core.findings import Finding, Severity
from modelseal.runtime import audit
from modelseal.runtime.check import Checker, Scanner, describe_target, static_scanner
from modelseal.runtime.errors import GuardWarning, ModelBlocked, describe
from modelseal.runtime.lock import LockVerifier, lockfile_verifier
from modelseal.runtime.patches import DATA, FILE, PRETRAINED, TARGETS, PatchOnImport, Target
from modelseal.scanners.pickle.allowlist import Allowlist

BLOCK = "block"
WARN = "warn"


@dataclass(frozen=True)
class GuardConfig:
    mode: str = BLOCK
    """``block`` raises :class:`ModelBlocked`; ``warn`` emits :class:`GuardWarning` and loads anyway."""
    threshold: Severity = Severity.HIGH
    """Findings at or above this severity block (or warn)."""
    allow: tuple[str, ...] = ()
    """Extra pickle globals to allow (``pkg.module:Class`` or patterns such as ``mypkg.*:*``)."""
    lockfile: Path | None = None
    lock_verifier: LockVerifier | None = field(default=None, compare=False)
    """Checks a file against its lock entry; built from ``lockfile`` when not given."""
    audit_hook: bool = True

    def __post_init__(self) -> None:
        if self.mode not in (BLOCK, WARN):
            raise ConfigError(f"guard mode must be 'block' or 'warn', not {self.mode!r}")


@dataclass
class _Active:
    config: GuardConfig
    checker: Checker
    allowlist: Allowlist
    finder: PatchOnImport
    undo: list[Callable[[], None]]


_lock = threading.Lock()
_active: _Active | None = None


def guard(
    mode: str = BLOCK,
    *,
    threshold: Severity | str = Severity.HIGH,
    allow: Iterable[str] = (),
    lockfile: str | os.PathLike[str] | None = None,
    lock_verifier: LockVerifier | None = None,
    audit_hook: bool = True,
    config: Config | None = None,
    scanner: Scanner | None = None,
) -> GuardConfig:
    """Make every model loader in this process check its input first; calling it again replaces the
    settings. ``config`` is the project configuration (``[tool.modelseal]``: allow, waive, limits),
    discovered from the working directory when None; ``allow`` adds to its allowlist. ``scanner`` replaces
    the local static scan (e.g. with a call to a scanning service)."""
    global _active
    settings = GuardConfig(
        mode=mode,
        threshold=Severity.parse(threshold) if isinstance(threshold, str) else threshold,
        allow=tuple(allow),
        lockfile=Path(lockfile) if lockfile is not None else None,
        lock_verifier=lock_verifier,
        audit_hook=audit_hook,
    )
    project = config or load_config()
    project = replace(project, allow=(*project.allow, *settings.allow))
    verifier = settings.lock_verifier or (lockfile_verifier(settings.lockfile) if settings.lockfile else None)
    allowlist = Allowlist(extra=project.allow, waivers=dict(project.waive), origin=project.origin)
    checker = Checker(scanner or static_scanner(project), verifier)
    with _lock:
        unguard()
        undo: list[Callable[[], None]] = []
        finder = PatchOnImport(TARGETS, _check, undo)
        _active = _Active(settings, checker, allowlist, finder, undo)
        finder.patch_loaded()
        sys.meta_path.insert(0, finder)
        if settings.audit_hook:
            audit.install(_audit_policy)
    return settings


def unguard() -> None:
    """Restore the original loaders; the audit hook stays installed but inactive."""
    global _active
    active, _active = _active, None
    if active is None:
        return
    if active.finder in sys.meta_path:
        sys.meta_path.remove(active.finder)
    for restore in reversed(active.undo):
        restore()


def active_config() -> GuardConfig | None:
    return _active.config if _active else None


def _audit_policy() -> tuple[audit.Classifier, bool] | None:
    active = _active
    if active is None or not active.config.audit_hook:
        return None
    return active.allowlist, active.config.mode == BLOCK


def _check(
    target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Scan what the loader was handed; refuse or warn by policy; return the arguments to load with."""
    active = _active
    if active is None:
        return args, kwargs
    positional = bool(args)
    value = args[0] if positional else kwargs.get(target.param)
    findings, value = _findings_for(active.checker, target.kind, value)
    _enforce(active.config, target.label, describe_target(value), findings)
    if positional:
        return (value, *args[1:]), kwargs
    return args, ({**kwargs, target.param: value} if target.param in kwargs else kwargs)


def _findings_for(checker: Checker, kind: str, value: Any) -> tuple[Sequence[Finding], Any]:
    if isinstance(value, (str, os.PathLike)):
        if kind == PRETRAINED and not Path(os.fspath(value)).exists():
            return checker.hub(str(value)), value
        return checker.path(Path(os.fspath(value))), value
    if kind == DATA and isinstance(value, (bytes, bytearray, memoryview)):
        return checker.data(value, "<bytes>"), value
    if kind == FILE and hasattr(value, "read"):
        return checker.stream(value, describe_target(value))
    return (), value  # not something we know how to read; the loader will reject it itself


def _enforce(config: GuardConfig, label: str, target: str, findings: Sequence[Finding]) -> None:
    bad = [f for f in findings if f.severity >= config.threshold]
    if not bad:
        return
    bad.sort(key=lambda f: -f.severity)
    if config.mode == BLOCK:
        raise ModelBlocked(label, target, bad)
    warnings.warn(GuardWarning(f"modelseal would block {label}({target}): {describe(bad)}"), stacklevel=4)
