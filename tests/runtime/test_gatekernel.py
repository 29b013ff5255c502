"""The compiled confidence gate (numba) against the numpy gate, its reference: the same labels,
confidences, gate words and acceptance on every row, hostile rows included; the fused softmax against
numpy's; the fallbacks when the kernel cannot take a batch or numba is absent."""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

import modelseal.defense
from modelseal.defense.errors import DefenseError
from modelseal.defense.validate import ConfidenceGate, OutputValidator, softmax

pytest.importorskip("numba")


def _gates(k: int, conformal: float | None, seed: int = 0) -> tuple[ConfidenceGate, ConfidenceGate]:
    """A gate calibrated on answers of ``k`` classes, as the numpy reference and compiled."""
    rng = np.random.default_rng(seed)
    y = rng.integers(k, size=600)
    z = rng.normal(size=(600, k))
    z[np.arange(600), y] += 3.0
    gate = ConfidenceGate.calibrate(softmax(z), y, conformal_alpha=conformal)
    return replace(gate, compiled=False), replace(gate, compiled=True)


def _hostile(p: np.ndarray) -> np.ndarray:
    """Rows a serving loop may meet: NaN (first, later, twice), negative, infinite, all zero, ties at the
    top, a flat row, values above 1, a row that is not a distribution at all."""
    p = p.copy()
    k = p.shape[1]
    p[0, 0] = np.nan
    p[1, k - 1] = np.nan
    p[2, :2] = np.nan
    p[3, 1] = -0.1
    p[4, 0] = np.inf
    p[5] = 0.0
    p[6, :2] = 0.5
    p[6, 2:] = 0.0
    p[7] = 1.0 / k
    p[8] *= 3.0
    p[9] = np.linspace(0.0, 7.0, k)
    p[10, 0] = -np.inf
    return p


def _assert_same(reference: tuple[np.ndarray, ...], compiled: tuple[np.ndarray, ...]) -> None:
    for name, a, b in zip(("labels", "confidence", "words", "accepted"), reference, compiled, strict=True):
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b, equal_nan=True), (name, np.flatnonzero(~((a == b) | (a != a))))


@pytest.mark.parametrize("k", [2, 3, 10, 50])
@pytest.mark.parametrize("conformal", [None, 0.1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_gate_judges_every_row_as_the_numpy_gate(
    k: int, conformal: float | None, dtype: type
) -> None:
    reference, compiled = _gates(k, conformal)
    rng = np.random.default_rng(k)
    for concentration in (0.05, 0.5, 5.0):  # confident, mixed and flat answers
        p = _hostile(rng.dirichlet(np.full(k, concentration), 400)).astype(dtype)
        expected = reference.judge(p)
        assert 0 < expected[3].sum() < len(p) or concentration == 5.0  # both outcomes occur
        _assert_same(expected, compiled.judge(p))
    assert compiled.runs_compiled and not reference.runs_compiled


def test_entropy_bound_never_decides_otherwise_than_the_sum() -> None:
    """Rows whose entropy sits within a hair of the limit, on both sides: the kernel's shortcut (a bound
    from the top probability) must leave every one of them to the exact sum."""
    reference, compiled = _gates(10, None)
    rng = np.random.default_rng(1)
    rows = rng.dirichlet(np.full(10, 0.3), 2000)
    entropy = -(rows * np.log(rows, where=rows > 0, out=np.zeros_like(rows))).sum(1)
    for target in np.quantile(entropy, [0.2, 0.5, 0.8]):
        for offset in (-1e-12, 0.0, 1e-12, 1e-9, -1e-9):
            limit = float(target + offset)
            ref, fast = replace(reference, max_entropy=limit), replace(compiled, max_entropy=limit)
            _assert_same(ref.judge(rows), fast.judge(rows))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_softmax_is_numpys_and_judged_as_the_numpy_gate(dtype: type) -> None:
    reference, compiled = _gates(10, 0.1)
    rng = np.random.default_rng(2)
    z = (rng.normal(size=(500, 10)) * 4).astype(dtype)
    z[0, 0] = np.nan
    z[1, 3] = np.inf
    z[2, 4] = -np.inf  # a class ruled out: probability 0, the row still judged
    z[3] = -np.inf
    z[4] = 0.0
    p_ref, *judged_ref = reference.judge_logits(z)
    p, *judged = compiled.judge_logits(z)
    assert p.dtype == p_ref.dtype == dtype
    finite = ~np.isnan(p_ref).any(1)
    assert finite.tolist()[:5] == [False, False, True, False, True]
    assert np.isnan(p[~finite]).all()
    np.testing.assert_array_max_ulp(p[finite], p_ref[finite], maxulp=1 if dtype == np.float32 else 4)
    assert p[2, 4] == 0.0 and math.isclose(float(p[2].sum()), 1.0, rel_tol=1e-6)
    _assert_same(reference.judge(p), tuple(judged))
    assert np.array_equal(judged[0][finite], judged_ref[0][finite])


def test_batches_the_kernel_cannot_take_go_to_numpy() -> None:
    reference, compiled = _gates(4, None)
    p = np.random.default_rng(3).dirichlet(np.ones(4), 50)
    strided = np.asfortranarray(p)
    _assert_same(reference.judge(p), replace(compiled, compiled=None).judge(strided))
    _assert_same(
        reference.judge(p.astype(np.float32)), replace(compiled, compiled=None).judge(p.astype(">f4"))
    )
    with pytest.raises(DefenseError, match="C-ordered float32 or float64"):
        compiled.judge(p.astype(np.float16))
    with pytest.raises(DefenseError, match="calibrated for 4 classes"):
        compiled.judge(p[:, :3].copy())


def test_without_numba_the_numpy_gate_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    reference, compiled = _gates(4, None)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now fails
    monkeypatch.delitem(sys.modules, "modelseal.defense.gatekernel")
    monkeypatch.delattr(modelseal.defense, "gatekernel")
    p = np.random.default_rng(4).dirichlet(np.ones(4), 50)
    default = replace(compiled, compiled=None)
    _assert_same(reference.judge(p), default.judge(p))
    assert not default.runs_compiled
    with pytest.raises(DefenseError, match=r"not available: numba is not installed.*modelseal\[jit\]"):
        replace(compiled, compiled=True).judge(p)
    assert OutputValidator(gate=default).screen_logits(np.log(p)).accepted.dtype == bool


def test_guarded_takes_logits_straight_to_the_gate() -> None:
    """A torch model declared to return logits: the gate takes the softmax in its own pass, and the
    answers are the ones the two-step path (torch's softmax, then the gate) gives."""
    torch = pytest.importorskip("torch")
    from modelseal.runtime import Guarded

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    x = np.random.default_rng(5).random((300, 1, 8, 8)).astype(np.float32)
    probs = Guarded(model, outputs="logits").probabilities(x)
    gate = ConfidenceGate.calibrate(probs, probs.argmax(1), conformal_alpha=0.1)
    fused = Guarded(model, validator=OutputValidator(gate=gate), outputs="logits").predict(x)
    two_step = Guarded(model, validator=OutputValidator(gate=replace(gate, compiled=False))).predict(x)
    np.testing.assert_allclose(fused.probs, two_step.probs, rtol=1e-5, atol=1e-7)
    assert fused.labels.tolist() == two_step.labels.tolist()
    assert fused.accepted.tolist() == two_step.accepted.tolist()
    assert 0 < fused.accepted.sum() < len(x)


def test_kernels_numba_cannot_build_leave_the_numpy_gate_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """numba installed but failing (an unwritable cache, an LLVM error) must not take a serving loop
    down: the numpy gate answers, with a warning; a gate that requires the kernel says why."""
    reference, compiled = _gates(4, None)
    real_import = __import__

    def failing(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "modelseal.defense" and "gatekernel" in (args[2] or ()):
            raise RuntimeError("cannot cache function: no locator available")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "modelseal.defense.gatekernel")
    monkeypatch.delattr(modelseal.defense, "gatekernel")
    monkeypatch.setattr("builtins.__import__", failing)
    p = np.random.default_rng(6).dirichlet(np.ones(4), 50)
    default = replace(compiled, compiled=None)
    with pytest.warns(RuntimeWarning, match="numpy gate answers instead.*no locator available"):
        _assert_same(reference.judge(p), default.judge(p))
    with pytest.raises(DefenseError, match="not available: numba could not compile or load it"):
        replace(compiled, compiled=True).judge(p)
