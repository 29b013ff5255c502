"""Issue 15, part 1: each callable is judged by what the pickle makes it do, and every explanation is true of
the callable as used."""

from __future__ import annotations

import argparse
import functools
import operator
import pickle
from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.core.findings import Finding, Severity
from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput
from modelseal.scanners.pickle.allowlist import Allowlist
from modelseal.scanners.pickle.scanner import scan_pickle_stream
from modelseal.scanners.registry import dispatch
from tests.scanners.craft import global0


def findings_of(data: bytes, tmp_path: Path, name: str = "x.pkl") -> tuple[Finding, ...]:
    path = tmp_path / name
    path.write_bytes(data)
    return scan([path]).findings


def rules(findings: tuple[Finding, ...]) -> dict[str, str]:
    return {f.rule_id: f.severity.label for f in findings}


class Plain:
    """A class of this test module: unknown to the allowlist."""

    def __init__(self) -> None:
        self.x = 1


def test_unknown_class_rebuilt_is_medium_and_called_is_high(tmp_path: Path) -> None:
    rebuilt = pickle.dumps(Plain(), protocol=2)  # NEWOBJ + BUILD
    assert rules(findings_of(rebuilt, tmp_path)) == {"MS-PICKLE-UNKNOWN-CLASS": "medium"}
    called = b"\x80\x02" + global0(Plain.__module__, "Plain") + b")R."  # REDUCE: called with chosen args
    assert rules(findings_of(called, tmp_path)) == {"MS-PICKLE-UNKNOWN-CALLABLE": "high"}


@pytest.mark.parametrize("protocol", [0, 1])
def test_copyreg_reconstructor_is_a_rebuild(protocol: int, tmp_path: Path) -> None:
    data = pickle.dumps(Plain(), protocol=protocol)
    assert rules(findings_of(data, tmp_path)) == {"MS-PICKLE-UNKNOWN-CLASS": "medium"}


def test_copyreg_reconstructor_with_a_computed_base_is_a_gadget(tmp_path: Path) -> None:
    base = global0("builtins", "getattr") + b"(" + global0("builtins", "object") + b"S'mro'\ntR"
    data = b"\x80\x02" + global0("copyreg", "_reconstructor") + b"(" + global0("mypkg", "C") + base + b"NtR."
    messages = [f.message for f in findings_of(data, tmp_path) if f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE"]
    assert any("copyreg._reconstructor call" in m for m in messages), messages


def _ctx(allowlist: Allowlist) -> ScanContext:
    return ScanContext(Limits(), dispatch, allowlist)


def test_rebuild_entries_allow_rebuilding_only() -> None:
    """The allowlist format: ``rebuild`` entries (here from configuration) are safe rebuilt, not called."""
    allow = Allowlist(rebuild=[f"{Plain.__module__}:Plain"])
    assert allow.classify(Plain.__module__, "Plain").rebuild
    assert not allow.classify(Plain.__module__, "Plain").allowed
    rebuilt = pickle.dumps(Plain(), protocol=2)
    called = b"\x80\x02" + global0(Plain.__module__, "Plain") + b")R."
    scanned = [
        scan_pickle_stream(ScanInput(ByteSource.from_bytes(d), "x.pkl", len(d)), _ctx(allow)).findings
        for d in (rebuilt, called)
    ]
    assert scanned[0] == ()
    assert [(f.rule_id, "rebuilt from its state" in f.message) for f in scanned[1]] == [
        ("MS-PICKLE-UNKNOWN-CALLABLE", True)
    ]


def test_callables_handed_back_are_safe_until_called(tmp_path: Path) -> None:
    kept = [functools.partial(max, 1), operator.attrgetter("a.b"), operator.itemgetter(2)]
    found = findings_of(pickle.dumps(kept, protocol=4), tmp_path)
    dangerous = [f for f in found if f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE"]
    assert dangerous and all(f.severity == Severity.INFO and "safe as used" in f.message for f in dangerous)
    assert [f.message for f in found if f.rule_id == "MS-PICKLE-UNKNOWN-CALLABLE"] == [
        "imports builtins.max, which is not on the allowlist"
    ]


@pytest.mark.parametrize(
    "data",
    [
        # getattr(dict, 'fromkeys')('x') : the handed-back callable is called with chosen arguments
        b"\x80\x02"
        + global0("builtins", "getattr")
        + b"("
        + global0("builtins", "dict")
        + b"S'fromkeys'\ntR(S'x'\ntR.",
        # attrgetter of an internal attribute
        b"\x80\x02" + global0("operator", "attrgetter") + b"(S'__globals__'\ntR.",
        # partial called by the pickle itself
        b"\x80\x02" + global0("functools", "partial") + b"(" + global0("builtins", "dict") + b"tR)R.",
        # defaultdict whose factory is what getattr handed back
        b"\x80\x02"
        + global0("collections", "defaultdict")
        + b"("
        + global0("builtins", "getattr")
        + b"("
        + global0("builtins", "dict")
        + b"S'copy'\ntRtR.",
    ],
)
def test_calling_what_was_handed_back_is_dangerous(data: bytes, tmp_path: Path) -> None:
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in rules(findings_of(data, tmp_path))


def test_build_on_a_looked_up_object_mutates_shared_state(tmp_path: Path) -> None:
    data = b"\x80\x02" + global0("builtins", "getattr") + b"(" + global0("torch", "nn") + b"S'modules'\ntR}b."
    assert "MS-PICKLE-MUTATES-GLOBAL" in rules(findings_of(data, tmp_path))


def test_cloudpickled_function_is_reported_as_code(tmp_path: Path) -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    scope = {}
    exec("def double(x):\n    return 2 * x\n", scope)  # a function of no module: pickled by value
    found = findings_of(cloudpickle.dumps(scope["double"]), tmp_path)
    assert rules(found).get("MS-PICKLE-EMBEDDED-CODE") == "high"
    assert {"MS-PICKLE-DANGEROUS-CALLABLE", "MS-PICKLE-CALL-ON-OBJECT"}.isdisjoint(rules(found))
    assert all("runs the Python code it contains" in f.message for f in found if "EMBEDDED" in f.rule_id)


def test_explanations_are_true_of_the_callable(tmp_path: Path) -> None:
    """A path object touches no file; a layout lookup unpickles nothing."""
    path_pickle = pickle.dumps({"out": Path("/tmp/run")}, protocol=4)
    layout = b"\x80\x02" + global0("torch.serialization", "_get_layout") + b"(S'torch.sparse_coo'\ntR."
    for data in (path_pickle, layout):
        messages = [f.message for f in findings_of(data, tmp_path)]
        assert not any("reads, writes or deletes" in m or "unpickles further" in m for m in messages), (
            messages
        )
    walk = b"\x80\x02" + global0("pathlib", "Path.unlink") + b"."
    assert any("reads, writes or deletes files" in f.message for f in findings_of(walk, tmp_path))


def test_every_finding_severity_is_from_its_rule_or_stated(tmp_path: Path) -> None:
    data = pickle.dumps(argparse.Namespace(p=Path("x")), protocol=2)
    for f in findings_of(data, tmp_path):
        assert f.severity in (Severity.MEDIUM, Severity.HIGH), (f.rule_id, f.message)


def test_newobj_ex_is_a_rebuild(tmp_path: Path) -> None:
    """NEWOBJ_EX (protocol 4 construction with keyword arguments to __new__) is a rebuild too."""
    data = b"\x80\x04" + global0("mypkg", "C") + b")}\x92."
    assert rules(findings_of(data, tmp_path)) == {"MS-PICKLE-UNKNOWN-CLASS": "medium"}
