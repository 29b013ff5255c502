"""The guard refuses malicious files in every patched loader before any payload runs; clean files load."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from modelseal.core.config import Config
from modelseal.runtime import GuardWarning, ModelBlocked, guard, unguard
from tests.runtime.conftest import Payload, ShellPayload

torch = pytest.importorskip("torch")
joblib = pytest.importorskip("joblib")
np = pytest.importorskip("numpy")


class _OneWay(io.RawIOBase):
    """A stream that cannot seek (a socket or pipe, as far as the loader can tell)."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        chunk = self._buf.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def _blocked(call: object, marker: Path) -> ModelBlocked:
    with pytest.raises(ModelBlocked) as info:
        call()  # type: ignore[operator]
    assert not marker.exists(), "the payload ran before the guard refused"
    return info.value


@pytest.mark.usefixtures("guarded")
@pytest.mark.parametrize("how", ["loads", "load-file", "load-stream"])
def test_pickle_refused_before_payload(how: str, evil_pickle: bytes, marker: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(evil_pickle)
    calls = {
        "loads": lambda: pickle.loads(evil_pickle),
        "load-file": lambda: pickle.load(path.open("rb")),
        "load-stream": lambda: pickle.load(io.BufferedReader(_OneWay(evil_pickle))),
    }
    error = _blocked(calls[how], marker)
    assert error.loader == ("pickle.loads" if how == "loads" else "pickle.load")
    assert any(f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE" for f in error.findings)
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in str(error) and "exec" in str(error)


@pytest.mark.usefixtures("guarded")
@pytest.mark.parametrize("zipfile_format", [True, False], ids=["zip", "legacy"])
def test_torch_checkpoint_refused(zipfile_format: bool, marker: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    state = {"layer.weight": torch.ones(4, 4), "extra": ShellPayload(marker)}
    torch.save(state, path, _use_new_zipfile_serialization=zipfile_format)
    error = _blocked(lambda: torch.load(path, weights_only=False), marker)
    assert error.loader == "torch.load"
    assert "system" in str(error)
    with path.open("rb") as fh:
        _blocked(lambda: torch.load(fh, weights_only=False), marker)
    _blocked(lambda: torch.serialization.load(str(path), weights_only=False), marker)


@pytest.mark.usefixtures("guarded")
def test_joblib_refused(marker: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump({"coef": np.arange(10.0), "x": Payload(marker)}, path)
    error = _blocked(lambda: joblib.load(path), marker)
    assert error.loader == "joblib.load"
    _blocked(lambda: joblib.load(str(path)), marker)


@pytest.mark.usefixtures("guarded")
def test_numpy_object_array_refused(marker: Path, tmp_path: Path) -> None:
    path = tmp_path / "arr.npy"
    arr = np.empty(1, dtype=object)
    arr[0] = Payload(marker)
    np.save(path, arr, allow_pickle=True)
    error = _blocked(lambda: np.load(path, allow_pickle=True), marker)
    assert error.loader == "numpy.load"


@pytest.mark.usefixtures("guarded")
def test_clean_files_load_unchanged(tmp_path: Path) -> None:
    state = {"w": torch.randn(8, 3), "b": torch.zeros(3)}
    torch.save(state, tmp_path / "clean.pt")
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    for name in ("clean.pt", "legacy.pt"):
        for weights_only in (True, False):
            loaded = torch.load(tmp_path / name, weights_only=weights_only)
            assert loaded.keys() == state.keys()
            assert all(torch.equal(loaded[k], state[k]) for k in state)
    joblib.dump({"coef": np.arange(6.0).reshape(2, 3)}, tmp_path / "clean.joblib")
    assert np.array_equal(joblib.load(tmp_path / "clean.joblib")["coef"], np.arange(6.0).reshape(2, 3))
    np.save(tmp_path / "a.npy", np.arange(5))
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.arange(5))
    data = {"lr": 0.1, "layers": [1, 2, 3]}
    assert pickle.loads(pickle.dumps(data)) == data
    with io.BytesIO(pickle.dumps(data)) as fh:
        assert pickle.load(fh) == data
    assert pickle.load(io.BufferedReader(_OneWay(pickle.dumps(data)))) == data


def test_audit_hook_stops_loaders_the_guard_did_not_wrap(evil_pickle: bytes, marker: Path) -> None:
    early_loads = pickle.loads  # taken before guard(): not wrapped
    guard(config=Config())
    try:
        error = _blocked(lambda: early_loads(evil_pickle), marker)
        assert error.findings[0].rule_id == "MS-GUARD-PICKLE-GLOBAL"
        _blocked(lambda: pickle.Unpickler(io.BytesIO(evil_pickle)).load(), marker)
        _blocked(lambda: pickle._Unpickler(io.BytesIO(evil_pickle)).load(), marker)  # pure-Python unpickler
        assert pickle.Unpickler(io.BytesIO(pickle.dumps({"a": 1}))).load() == {"a": 1}
    finally:
        unguard()
    assert early_loads(pickle.dumps(frozenset({1}))) == frozenset({1})  # inert once unguarded


class Point:
    def __init__(self, x: int) -> None:
        self.x = x

    def __reduce__(self) -> tuple[type[Point], tuple[int]]:
        return Point, (self.x,)  # Point(x) called with chosen arguments: high (rebuilt from state is medium)


def test_warn_mode_warns_and_loads(tmp_path: Path) -> None:
    data = pickle.dumps(Point(3))
    guard("warn", config=Config())
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert pickle.loads(data).x == 3
        messages = [str(w.message) for w in caught if issubclass(w.category, GuardWarning)]
        assert any("MS-PICKLE-UNKNOWN-CALLABLE" in m for m in messages)
        assert any("MS-GUARD-PICKLE-GLOBAL" in m for m in messages)
    finally:
        unguard()


def test_block_mode_refuses_unknown_class_until_allowed() -> None:
    data = pickle.dumps(Point(3))
    guard(config=Config())
    try:
        with pytest.raises(ModelBlocked, match="MS-PICKLE-UNKNOWN-CALLABLE"):
            pickle.loads(data)
        guard(allow=[f"{__name__}:Point"], config=Config())
        assert pickle.loads(data).x == 3
    finally:
        unguard()


def test_unguard_restores_originals() -> None:
    originals = (torch.load, joblib.load, np.load, pickle.load, pickle.loads)
    guard(config=Config())
    assert torch.load is not originals[0] and pickle.loads is not originals[4]
    unguard()
    assert (torch.load, joblib.load, np.load, pickle.load, pickle.loads) == originals
    assert torch.serialization.load is originals[0]


def test_lockfile_mismatch_blocks(tmp_path: Path) -> None:
    from modelseal.integrity.lockfile import Lockfile, lock_entry, write_lock
    from modelseal.integrity.manifest import manifest_for
    from modelseal.sources.local import resolve_local

    model = tmp_path / "model"
    model.mkdir()
    torch.save({"w": torch.ones(2)}, model / "a.pt")
    torch.save({"w": torch.ones(2)}, model / "b.pt")
    lockfile = tmp_path / "modelseal.lock"
    write_lock(lockfile, Lockfile((lock_entry(str(model), manifest_for(resolve_local(str(model)))),)))
    torch.save({"w": torch.full((2,), 7.0)}, model / "b.pt")  # swapped after locking
    guard(lockfile=lockfile, config=Config())
    try:
        assert torch.equal(torch.load(model / "a.pt")["w"], torch.ones(2))
        with pytest.raises(ModelBlocked, match="MS-LOCK-MISMATCH"):
            torch.load(model / "b.pt")
        other = tmp_path / "other.pt"
        torch.save({"w": torch.ones(2)}, other)
        with pytest.raises(ModelBlocked, match="no entry"):
            torch.load(other)
    finally:
        unguard()


def test_loaders_imported_after_guard_are_wrapped(tmp_path: Path, marker: Path) -> None:
    """In a fresh process where torch and joblib are imported only after ``guard()``."""
    evil = tmp_path / "evil.pt"
    code = textwrap.dedent(f"""
        import sys
        import modelseal.runtime as rt
        rt.guard()
        assert "torch" not in sys.modules and "joblib" not in sys.modules
        import torch, joblib
        try:
            torch.load({str(evil)!r}, weights_only=False)
        except rt.ModelBlocked as exc:
            print("BLOCKED", exc)
        print(hasattr(joblib.load, "__modelseal_original__"))
    """)
    torch.save({"x": ShellPayload(marker)}, evil)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "BLOCKED modelseal blocked torch.load" in done.stdout and done.stdout.strip().endswith("True")
    assert not marker.exists()


def test_python_m_modelseal_guard(tmp_path: Path, marker: Path) -> None:
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Payload(marker)))
    (tmp_path / "clean.pkl").write_bytes(pickle.dumps({"ok": 1}))
    script = tmp_path / "app.py"
    script.write_text("import pickle, sys\nprint(pickle.load(open(sys.argv[1], 'rb')))\n")

    def app(model: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "modelseal.guard", str(script), model]
        return subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120)

    evil = app("evil.pkl")
    assert evil.returncode == 1
    assert "modelseal blocked pickle.load" in evil.stderr and "MS-PICKLE-DANGEROUS-CALLABLE" in evil.stderr
    assert not marker.exists()
    clean = app("clean.pkl")
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.strip() == "{'ok': 1}"


def test_guard_module_is_callable() -> None:
    import modelseal.guard as guard_module

    settings = guard_module(config=Config())  # type: ignore[operator]
    try:
        assert settings.mode == "block"
    finally:
        unguard()


def test_bad_mode_is_a_config_error() -> None:
    from modelseal.core.errors import ConfigError

    with pytest.raises(ConfigError):
        guard("ignore", config=Config())
