"""The allowlist generator's rules are enforced by reading the hooks a load reaches, and the shipped list
keeps its shape: sections with versions, 'allow' and 'rebuild' apart."""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_allowlist", ROOT / "tools" / "gen_allowlist.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _generator()


class Inert:
    def __init__(self, a: int = 0) -> None:
        self.a = a

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class RunsOnRebuild:
    def __setstate__(self, state: dict[str, Any]) -> None:
        os.system(state["cmd"])


class ImportsByName:
    def __setstate__(self, state: dict[str, Any]) -> None:
        import importlib

        self.mod = importlib.import_module(state["module"])


class ImportsAFixedModule:
    def __setstate__(self, state: dict[str, Any]) -> None:
        import importlib

        self.json = importlib.import_module("json")


class CallsItsState:
    def __setstate__(self, state: Any) -> None:
        self.value = state()


class WalksAttributes:
    def __setstate__(self, state: dict[str, Any]) -> None:
        self.x = getattr(state["obj"], state["name"])


class Forwards:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_inner"], name)


class HandsBackEval:
    def __reduce__(self) -> Any:
        return eval, ("1",)


class ThroughAHelper:
    def __setstate__(self, state: dict[str, Any]) -> None:
        self._restore(state)

    def _restore(self, state: dict[str, Any]) -> None:
        with open(state["path"]) as fh:
            self.text = fh.read()


@dataclasses.dataclass
class OpensOnInit:
    path: str = ""

    def __post_init__(self) -> None:
        self.text = Path(self.path).read_text()


class Colour(enum.Enum):
    RED = "red"


@pytest.mark.parametrize("cls", [Inert, ImportsAFixedModule, Forwards, Colour])
def test_inert_classes_may_be_called(cls: type) -> None:
    assert gen.check(cls, rebuild=False) == []


@pytest.mark.parametrize(
    ("cls", "why"),
    [
        (RunsOnRebuild, "os.system"),
        (ImportsByName, "importlib.import_module"),
        (CallsItsState, "calls its argument 'state'"),
        (WalksAttributes, "getattr with a computed name"),
        (HandsBackEval, "hands back builtins.eval"),
        (ThroughAHelper, "io.open"),
    ],
)
def test_dangerous_hooks_are_refused_for_both_uses(cls: type, why: str) -> None:
    for rebuild in (False, True):
        problems = gen.check(cls, rebuild=rebuild)
        assert any(why in p for p in problems), (rebuild, problems)


def test_constructor_work_refuses_calling_but_not_rebuilding() -> None:
    assert any("read_text" in p for p in gen.check(OpensOnInit, rebuild=False))
    assert gen.check(OpensOnInit, rebuild=True) == []


def test_shipped_list_has_versions_and_keeps_allow_and_rebuild_apart() -> None:
    data = json.loads((ROOT / "src/modelseal/scanners/pickle/allowlist.json").read_text(encoding="utf-8"))
    assert {"stdlib", "torch", "transformers", "pandas", "lightning"} <= set(data["libraries"])
    for name, section in data["libraries"].items():
        assert section["source"], name
        allow, rebuild = section["allow"], section.get("rebuild", [])
        assert allow == sorted(allow) and rebuild == sorted(rebuild), name
        assert not set(allow) & set(rebuild), name
    torch = data["libraries"]["torch"]["allow"]
    assert "torch:per_tensor_affine" in torch and "torch._utils:_rebuild_qtensor" in torch
    assert "transformers.training_args:TrainingArguments" in data["libraries"]["transformers"]["rebuild"]
