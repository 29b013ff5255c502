"""What this host permits, probed independently of the sandbox code, so tests can hold the sandbox's
report about itself to the truth."""

from __future__ import annotations

import ctypes
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest

from modelseal.sandbox import IsolationLevel, SandboxConfig, SandboxLimits


def landlock_abi() -> int:
    return max(int(ctypes.CDLL(None).syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))), 0)


def userns_permitted() -> bool:
    tool = shutil.which("unshare")
    if tool is None:
        pytest.skip("util-linux unshare is not installed: cannot probe the host independently")
    done = subprocess.run(
        [tool, "--user", "--net", "--pid", "--fork", "true"], capture_output=True, timeout=30
    )
    return done.returncode == 0


def seccomp_available() -> bool:
    try:
        import pyseccomp  # type: ignore[import-untyped]  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        return False
    return Path("/proc/sys/kernel/seccomp/actions_avail").exists()


def expected_level() -> IsolationLevel:
    landlock, ns, sec = landlock_abi() >= 1, userns_permitted(), seccomp_available()
    if landlock and ns and sec:
        return IsolationLevel.STRONG
    if landlock and (ns or sec):
        return IsolationLevel.MEDIUM
    return IsolationLevel.WEAK


class Exec:
    """A pickle whose loading runs ``code``: the "model" whose attempts the sandbox must stop."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, ...]:
        return (exec, (self.code,))


def hostile_model(tmp_path: Path, code: str) -> Path:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weights": [0.5], "hook": Exec(code)}))
    return path


@pytest.fixture
def small() -> SandboxConfig:
    return SandboxConfig(limits=SandboxLimits(memory_bytes=1 << 30, max_processes=16, wall_seconds=60))
