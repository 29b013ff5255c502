"""The compiled batch decoder (``_fastloop.c``) against ``fast.py``'s loop, its reference: from the same
machine state, the same bytes leave the same state (stack, frames, memo, counters, position), the same
return value or the same error, and whole pickles give the same report. The differential tests hold both
loops to the machine's reference loop; these hold the compiled one to the Python one opcode for opcode."""

from __future__ import annotations

import io
import math
import random
import re
import struct
import sys
import time
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource
from modelseal.scanners import pickle as pickle_package
from modelseal.scanners.interface import ScanContext
from modelseal.scanners.pickle import fast, machine
from modelseal.scanners.pickle.allowlist import default_allowlist
from modelseal.scanners.pickle.values import Blob, Call, Dict, Global, Opaque, Persistent, Seq, estimate
from modelseal.scanners.registry import dispatch
from tests.scanners.differential import _mutate, _Program
from tests.scanners.native import compiler_here

Loop = Callable[[Any, float], int]


def test_the_compiled_loop_is_built_where_a_compiler_is() -> None:
    """``pip install`` builds the extension as optional: a broken build would fall back in silence."""
    if not compiler_here():
        pytest.skip("no C compiler or Python headers here: the Python loop is the one in use")
    assert fast.COMPILED is not None
    assert fast.run_common is fast.COMPILED
    assert machine.run_common is fast.COMPILED


def test_the_revision_expected_is_the_source_beside_it() -> None:
    """Every change to ``_fastloop.c`` bumps its REVISION and ``fast._REVISION`` with it."""
    source = (Path(fast.__file__).parent / "_fastloop.c").read_text(encoding="utf-8")
    defined = re.search(r"^#define REVISION (\d+)$", source, re.MULTILINE)
    assert defined is not None and int(defined.group(1)) == fast._REVISION
    if fast.COMPILED is not None:
        from modelseal.scanners.pickle import _fastloop

        assert _fastloop.REVISION == fast._REVISION


def test_a_module_built_from_another_revision_is_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    stale = types.ModuleType("modelseal.scanners.pickle._fastloop")
    stale.REVISION = fast._REVISION - 1  # type: ignore[attr-defined]
    stale.__file__ = "/stale/_fastloop.so"
    stale.run_common = lambda m, deadline: 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "modelseal.scanners.pickle._fastloop", stale)
    monkeypatch.setattr(pickle_package, "_fastloop", stale, raising=False)
    with pytest.warns(RuntimeWarning, match="another revision"):
        assert fast._compiled() is None


compiled = pytest.mark.skipif(fast.COMPILED is None, reason="the compiled loop is not built here")


def _render(value: Any, seen: dict[int, int]) -> Any:
    """A comparable rendering of a machine value (shared and cyclic values by their first index)."""
    cls = value.__class__
    if cls in (Seq, Dict, Call, Global, Persistent, Blob, Opaque, list):
        if id(value) in seen:
            return ("seen", seen[id(value)])
        seen[id(value)] = len(seen)
    if cls is Seq:
        return ("Seq", value.kind, [_render(v, seen) for v in value.items], value.dropped)
    if cls is Dict:
        return ("Dict", [(_render(k, seen), _render(v, seen)) for k, v in value.items], value.dropped)
    if cls is Call:
        return (
            "Call",
            _render(value.callee, seen),
            _render(value.args, seen),
            value.offset,
            value.rebuilt,
            value.yields,
            _render(value.state, seen),
        )
    if cls is Global:
        return ("Global", value.module, value.name, value.offset, value.used)
    if cls is Persistent:
        return ("Persistent", _render(value.pid, seen))
    if cls is Blob:
        return ("Blob", value.length, value.offset, value.is_text)
    if cls is Opaque:
        return ("Opaque", value.what)
    if cls is list:
        return [_render(v, seen) for v in value]
    if cls is float and math.isnan(value):
        return ("nan", struct.pack(">d", value))
    return (cls.__name__, value)


def _state(m: machine.Machine) -> Any:
    seen: dict[int, int] = {}
    return (
        _render(m.metastack, seen),
        _render(m.stack, seen),
        _render(m.memo.dense, seen),
        sorted((k, _render(v, seen)) for k, v in m.memo.sparse.items()),
        m.below,
        m.ops,
        m.memo_bytes,
        m.src.tell(),
        [(f.rule_id, f.message) for f in m.findings],
        sorted((k, r.count, r.unused, r.calls, r.rebuilds) for k, r in m.imports.items()),
    )


def _stretch(loop: Loop, data: bytes, limits: Limits, chunk: int | None) -> tuple[Any, Any]:
    """One stretch of ``loop`` from a fresh machine (a source read in ``chunk``-byte reads, so the loop
    meets the end of its buffer mid-pickle): what it returned or raised, and the machine after."""
    raw: Any = io.BytesIO(data)
    if chunk is not None:
        reads = io.BytesIO(data)
        raw = type("Chunked", (), {"read": lambda self, n: reads.read(min(n, chunk))})()
    m = machine.Machine(ByteSource(raw), ScanContext(limits, dispatch), default_allowlist())
    try:
        out: Any = loop(m, time.monotonic() + 60)
    except Exception as exc:  # the error is part of the behaviour compared
        out = (type(exc).__name__, str(exc))
    return out, _state(m)


def _whole(loop: Loop, data: bytes, limits: Limits) -> Any:
    """The report of a whole pickle run with ``loop`` as the machine's fast loop."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(machine, "run_common", loop)
        m = machine.Machine(ByteSource.from_bytes(data), ScanContext(limits, dispatch), default_allowlist())
        report = m.run()
    return (
        [(f.rule_id, f.message, f.location) for f in report.findings],
        _render(report.result, {}),
        report.complete,
        report.end_offset,
        report.globals_named,
        report.ran_out,
        report.called,
        _state(m),
    )


_LIMITS = (
    Limits(),
    Limits(max_pickle_memo=4, max_pickle_memo_bytes=600, max_inline_bytes=64),
    Limits(max_pickle_stack=6, max_pickle_ops=1500),
)

# Fragments the common opcodes are made of, well-formed and not (cut arguments, unknown memo entries,
# long or suspicious strings, invalid UTF-8), and a few opcodes the loop leaves to the reference.
_FRAGMENTS = (
    b"(",
    b")",
    b"]",
    b"}",
    b"\x8f",
    b"t",
    b"\x85",
    b"\x86",
    b"\x87",
    b"N",
    b"\x88",
    b"\x89",
    b"K\x07",
    b"M\x01\x02",
    b"J\xff\xff\xff\xff",
    b"G\x7f\xf8\x00\x00\x00\x00\x00\x01",
    b"G?\xf8\x00\x00\x00\x00\x00\x00",
    b"\x94",
    b"q\x00",
    b"q\x03",
    b"r\x00\x00\x00\x00",
    b"r\xff\xff\xff\x7f",
    b"h\x00",
    b"h\x05",
    b"j\x01\x00\x00\x00",
    b"j\xff\xff\xff\xff",
    b"\x8c\x03abc",
    b"\x8c\x02\xc3\xa9",
    b"\x8c\x02\xff\xfe",
    b"\x8c\x03\xed\xa0\x80",
    b"X\x05\x00\x00\x00hello",
    b"X\xff\xff\x00\x00short",
    b"C\x02\x80\x02",
    b"C\x03PK\x03",
    b"B\x04\x00\x00\x00data",
    b"\x8c\x05torch\x8c\x10_rebuild_tensor\x93",
    b"\x8c\x0bcollections\x8c\x0bOrderedDict\x93",
    b"cos\nsystem\n",
    b"R",
    b"Q",
    b"s",
    b"u",
    b"a",
    b"e",
    b"0",
    b"1",
    b"2",
    b"b",
    b"\x95\x10\x00\x00\x00\x00\x00\x00\x00",
    b"\x80\x04",
    b"I1\n",
    b".",
)


@st.composite
def _opcode_soup(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.sampled_from(_FRAGMENTS), max_size=120))
    return b"".join(parts)


@compiled
@settings(max_examples=300, deadline=None)
@given(data=_opcode_soup(), limits=st.sampled_from(_LIMITS), chunk=st.sampled_from((None, 7, 64)))
def test_a_stretch_leaves_the_same_state(data: bytes, limits: Limits, chunk: int | None) -> None:
    assert fast.COMPILED is not None
    assert _stretch(fast.COMPILED, data, limits, chunk) == _stretch(
        fast.run_common_reference, data, limits, chunk
    )


@compiled
@settings(max_examples=200, deadline=None)
@given(rng=st.randoms(use_true_random=False), limits=st.sampled_from(_LIMITS))
def test_whole_pickles_give_the_same_report(rng: random.Random, limits: Limits) -> None:
    assert fast.COMPILED is not None
    data = b"".join(_Program(rng).pickle() for _ in range(rng.randrange(1, 3)))
    data = _mutate(data, rng)
    assert _whole(fast.COMPILED, data, limits) == _whole(fast.run_common_reference, data, limits)


@compiled
@pytest.mark.parametrize("limits", _LIMITS[:2])
def test_a_torch_checkpoint_gives_the_same_report(limits: Limits) -> None:
    """The checkpoint pickle the compiled loop is for: thousands of tensor records, memo indices past 255
    (LONG_BINPUT), budget checks every 1024 opcodes."""
    torch = pytest.importorskip("torch")
    state = {f"layer{i}.weight": torch.zeros(i % 3 + 1, 2) for i in range(1500)}
    state["nested"] = {"step": 3, "lr": 0.5, "betas": (0.9, 0.999), "name": "adam"}  # type: ignore[assignment]
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with zipfile.ZipFile(buffer) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("/data.pkl")))
    reports = [_whole(loop, data, limits) for loop in (fast.COMPILED, fast.run_common_reference)]
    assert reports[0] == reports[1]
    assert reports[0][2] == (limits == Limits())  # complete, but for the tight memo's limit


@compiled
def test_the_budget_stops_both_at_the_same_opcode() -> None:
    data = b"\x80\x02]" + b"K\x01\x94" * 5000 + b"."
    limits = Limits(max_pickle_ops=3000)
    compiled_report = _whole(fast.COMPILED, data, limits)  # type: ignore[arg-type]
    assert compiled_report == _whole(fast.run_common_reference, data, limits)
    assert any(rule == "MS-LIMIT-EXCEEDED" for rule, _, _ in compiled_report[0])


@compiled
def test_the_memo_estimate_is_the_same() -> None:
    from modelseal.scanners.pickle import _fastloop

    values: list[Any] = [
        None,
        True,
        False,
        0,
        -(2**70),
        1.5,
        "",
        "é" * 7,
        "\ud800",
        b"",
        b"abc",
        bytearray(b"x"),
        Seq("tuple"),
        Seq("list", [1, 2, 3]),
        Dict(),
        Global("os", "system", 0),
        Call(None, None, 0, False),
        Persistent("x"),
        type("StrLike", (str,), {})("subclass"),
    ]
    full = Dict()
    full.add([(i, i) for i in range(40)])
    values.append(full)
    assert [_fastloop.estimate(v) for v in values] == [estimate(v) for v in values]
