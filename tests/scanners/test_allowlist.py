"""Allowlist decisions, user extensions, and waivers for dangerous callables."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.core.config import load_config
from modelseal.core.errors import ConfigError
from modelseal.core.findings import Severity
from modelseal.scanners.pickle.allowlist import Allowlist, default_allowlist
from tests.scanners.craft import call0


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch", "FloatStorage"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("sklearn.tree._classes", "DecisionTreeClassifier"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("__builtin__", "set"),
        ("copy_reg", "_reconstructor"),
    ],
)
def test_shipped_entries_allowed(module: str, name: str) -> None:
    verdict = default_allowlist().classify(module, name)
    assert verdict.allowed and not verdict.dangerous


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os", "system"),
        ("posix", "system"),
        ("nt", "system"),
        ("subprocess", "run"),
        ("builtins", "eval"),
        ("__builtin__", "exec"),
        ("builtins", "getattr"),
        ("pickle", "loads"),
        ("_pickle", "loads"),
        ("torch", "load"),
        ("numpy", "load"),
        ("socket", "socket"),
        ("shutil", "rmtree"),
        ("runpy", "run_path"),
        ("numpy", "os.system"),
        ("torch.nn", "Module.__subclasses__"),
        ("mypkg", "helpers.__globals__"),
        ("operator", "attrgetter"),
        ("importlib", "import_module"),
        ("ctypes", "CDLL"),
    ],
)
def test_gadgets_are_dangerous(module: str, name: str) -> None:
    verdict = default_allowlist().classify(module, name)
    assert verdict.dangerous and not verdict.allowed and verdict.explanation


def test_unknown_is_neither_allowed_nor_dangerous() -> None:
    verdict = default_allowlist().classify("mypkg.models", "Net")
    assert not verdict.allowed and not verdict.dangerous


def test_user_pattern_allows_own_classes_but_never_crosses_dots() -> None:
    allow = Allowlist(extra=["mypkg.models:*"])
    assert allow.classify("mypkg.models", "Net").allowed
    assert not allow.classify("mypkg.models", "os.system").allowed
    assert not allow.classify("mypkg.other", "Net").allowed


def test_user_pattern_cannot_allow_a_gadget() -> None:
    allow = Allowlist(extra=["os:*", "*:*", "builtins:eval"])
    for module, name in [("os", "system"), ("builtins", "eval")]:
        verdict = allow.classify(module, name)
        assert verdict.dangerous and not verdict.allowed


def test_waiver_needs_reason() -> None:
    with pytest.raises(ConfigError, match="reason"):
        Allowlist(waivers={"functools:partial": " "})
    verdict = Allowlist(waivers={"functools:partial": "reviewed"}).classify("functools", "partial")
    assert verdict.allowed and verdict.waiver == "reviewed"


def test_config_from_pyproject_extends_scan(tmp_path: Path) -> None:
    model = tmp_path / "own.pkl"
    model.write_bytes(call0("mypkg.models", "Net", "x"))
    assert scan([model]).max_severity() == Severity.HIGH
    (tmp_path / "pyproject.toml").write_text('[tool.modelseal]\nallow = ["mypkg.models:Net"]\n')
    config = load_config(start=tmp_path)
    assert scan([model], config).findings == ()


def test_waived_gadget_stays_visible(tmp_path: Path) -> None:
    model = tmp_path / "partial.pkl"
    model.write_bytes(call0("functools", "partial", "x"))
    cfg = tmp_path / "modelseal.toml"
    cfg.write_text('[[waive]]\ncallable = "functools:partial"\nreason = "ticket SEC-1"\n')
    result = scan([model], load_config(cfg))
    assert [(f.severity, "SEC-1" in f.message) for f in result.findings] == [(Severity.INFO, True)]


def test_malformed_config_names_file(tmp_path: Path) -> None:
    cfg = tmp_path / "modelseal.toml"
    cfg.write_text("allow = [1, 2]\n")
    with pytest.raises(ConfigError, match=r"modelseal\.toml"):
        load_config(cfg)
    cfg.write_text("allow = [\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(cfg)


def test_shipped_allowlist_contains_no_gadget() -> None:
    """The allowlist is consulted before the gadget knowledge, so it must never contain a gadget."""
    from modelseal.scanners.pickle.allowlist import _gadgets, _shipped

    gadgets = _gadgets()
    shipped = _shipped()
    assert not [f"{m}:{n}" for m, n in shipped.allow | shipped.rebuild if gadgets.match(m, n)]
