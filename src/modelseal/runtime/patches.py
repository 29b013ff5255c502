"""The loaders the guard wraps, and the import hook that wraps them in modules imported later.

Each :class:`Target` names where a loader lives and which argument carries what it will read. Wrapping
replaces the attribute on its module (and on the module that defined the function, when that module
re-exports it), so ``torch.load`` and ``torch.serialization.load`` are both covered.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

Check = Callable[["Target", tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]]
"""(loader, args, kwargs) -> the args and kwargs to call the loader with; raises to refuse."""

FILE = "file"  # a path or a binary file object
DATA = "data"  # bytes
PRETRAINED = "pretrained"  # a local folder or a hub id, first argument of a classmethod


@dataclass(frozen=True)
class Target:
    module: str
    attr: str
    """Attribute path inside the module; ``Class.method`` for classmethods."""
    kind: str
    param: str
    """Keyword name of the input argument when it is not passed positionally."""
    subclasses: bool = False
    """Also wrap subclasses that define their own copy of the classmethod."""

    @property
    def label(self) -> str:
        return f"{self.module}.{self.attr}"


_HF_PARAM = "pretrained_model_name_or_path"

TARGETS: tuple[Target, ...] = (
    Target("pickle", "load", FILE, "file"),
    Target("pickle", "loads", DATA, "data"),
    Target("torch", "load", FILE, "f"),
    Target("joblib", "load", FILE, "filename"),
    Target("numpy", "load", FILE, "file"),
    Target("keras.models", "load_model", FILE, "filepath"),
    Target("keras.saving", "load_model", FILE, "filepath"),
    # transformers: the model and tokenizer bases, and the Auto classes, which import remote code
    # (trust_remote_code) before they delegate to a base; each Auto class carries its own copy of the method.
    Target("transformers.modeling_utils", "PreTrainedModel.from_pretrained", PRETRAINED, _HF_PARAM),
    Target(
        "transformers.tokenization_utils_base",
        "PreTrainedTokenizerBase.from_pretrained",
        PRETRAINED,
        _HF_PARAM,
    ),
    Target(
        "transformers.models.auto.modeling_auto",
        "_BaseAutoModelClass.from_pretrained",
        PRETRAINED,
        _HF_PARAM,
        subclasses=True,
    ),
    Target(
        "transformers.models.auto.tokenization_auto", "AutoTokenizer.from_pretrained", PRETRAINED, _HF_PARAM
    ),
    Target(
        "transformers.models.auto.configuration_auto", "AutoConfig.from_pretrained", PRETRAINED, _HF_PARAM
    ),
)

_ORIGINAL = "__modelseal_original__"
_loading: contextvars.ContextVar[bool] = contextvars.ContextVar("modelseal_guarded_load", default=False)


def _wrap(original: Callable[..., Any], target: Target, check: Check) -> Callable[..., Any]:
    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _loading.get():  # an outer guarded loader already checked everything this call will read
            return original(*args, **kwargs)
        args, kwargs = check(target, args, kwargs)
        token = _loading.set(True)
        try:
            return original(*args, **kwargs)
        finally:
            _loading.reset(token)

    setattr(guarded, _ORIGINAL, original)
    return guarded


def _patch_one(module: ModuleType, target: Target, check: Check, undo: list[Callable[[], None]]) -> bool:
    owner: Any = module
    *path, name = target.attr.split(".")
    for part in path:
        owner = getattr(owner, part, None)
        if owner is None:
            return False
    if target.kind == PRETRAINED:
        classes = [owner, *_subclasses(owner)] if target.subclasses else [owner]
        patched = False
        for cls in classes:
            raw = cls.__dict__.get(name)
            if isinstance(raw, classmethod) and not hasattr(raw.__func__, _ORIGINAL):
                named = replace(target, attr=f"{cls.__qualname__}.{name}")
                setattr(cls, name, classmethod(_wrap(raw.__func__, named, _skip_cls(check))))
                undo.append(functools.partial(setattr, cls, name, raw))
                patched = True
        return patched
    original = getattr(owner, name, None)
    if original is None or hasattr(original, _ORIGINAL):
        return False
    wrapped = _wrap(original, target, check)
    for holder in _holders(owner, original):
        setattr(holder, name, wrapped)
        undo.append(functools.partial(setattr, holder, name, original))
    return True


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    direct: list[type] = cls.__subclasses__()
    for sub in direct:
        found += [sub, *_subclasses(sub)]
    return found


def _skip_cls(check: Check) -> Check:
    """Classmethods receive ``cls`` first; the input is the argument after it."""

    def inner(target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        new_args, new_kwargs = check(target, args[1:], kwargs)
        return (args[0], *new_args), new_kwargs

    return inner


def _holders(owner: Any, original: Callable[..., Any]) -> list[Any]:
    holders = [owner]
    home = sys.modules.get(getattr(original, "__module__", "") or "")
    if (
        home is not None
        and home is not owner
        and getattr(home, getattr(original, "__name__", ""), None) is original
    ):
        holders.append(home)
    return holders


class PatchOnImport(importlib.abc.MetaPathFinder):
    """Wraps loaders of modules imported after ``guard()``: runs the module, then patches it."""

    def __init__(self, targets: Sequence[Target], check: Check, undo: list[Callable[[], None]]) -> None:
        self._by_module: dict[str, list[Target]] = {}
        for t in targets:
            self._by_module.setdefault(t.module, []).append(t)
        self._check = check
        self._undo = undo

    def patch_loaded(self) -> None:
        for name, targets in self._by_module.items():
            module = sys.modules.get(name)
            if module is not None:
                for t in targets:
                    _patch_one(module, t, self._check, self._undo)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        targets = self._by_module.get(fullname)
        if not targets:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return None  # let the regular finders handle it; patch_loaded covers it on the next guard()
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            for t in targets:
                _patch_one(module, t, self._check, self._undo)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
