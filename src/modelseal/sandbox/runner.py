"""The supervisor: starts the launcher in a new session, enforces the wall clock, collects the result."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import IO

import modelseal
from modelseal.core.errors import ModelsealError
from modelseal.sandbox.config import EXIT_REFUSED, SandboxConfig
from modelseal.sandbox.layers import IsolationLevel, Layer
from modelseal.sandbox.result import Event, SandboxResult

_STATUS_MAX = 64 * 1024
_POLL_SECONDS = 0.02
_PACKAGE_ROOT = str(Path(modelseal.__file__).resolve().parent.parent)


class SandboxError(ModelsealError):
    """The sandbox itself could not be set up (not: the command failed inside it)."""


def python_module(module: str, *args: str) -> list[str]:
    """A command line running ``python -m module`` with this interpreter, isolated from the caller's
    environment (``-I``) yet able to import modelseal from wherever it is installed or checked out."""
    boot = (
        f"import sys, runpy; sys.path.insert(0, {_PACKAGE_ROOT!r}); "
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-I", "-c", boot, *args]


@contextlib.contextmanager
def output_folder(config: SandboxConfig, prefix: str) -> Iterator[tuple[Path, bool]]:
    """The run's output folder, created and made absolute, and whether it is kept afterwards:
    ``config.output_dir`` (kept), else a temporary folder removed when the block ends, so that runs without
    ``--output`` leave nothing behind."""
    if config.output_dir is not None:
        config.output_dir.mkdir(parents=True, exist_ok=True)
        yield config.output_dir.resolve(), True
        return
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield scratch.resolve(), False
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _minimal_env(config: SandboxConfig, home: str, output: str) -> dict[str, str]:
    path_dirs = [os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]
    env = {
        "PATH": os.pathsep.join(dict.fromkeys(path_dirs)),
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "MODELSEAL_OUTPUT": output,  # the one writable folder, wherever the command starts
    }
    env.update(config.env)
    return env


class _Pump(threading.Thread):
    """Copies one of the command's output pipes to ``echo`` as it arrives (when given) and keeps its last
    ``limit`` bytes. A pipe, not the caller's own descriptor, so the command never holds our terminal."""

    def __init__(self, pipe: IO[bytes], echo: IO[bytes] | None, limit: int) -> None:
        super().__init__(daemon=True)
        self._pipe, self._echo, self._limit = pipe, echo, limit
        self._tail = bytearray()

    def run(self) -> None:
        fd = self._pipe.fileno()
        with contextlib.suppress(OSError):  # the pipe closed under us after the join timed out
            self._copy(fd)

    def _copy(self, fd: int) -> None:
        while chunk := os.read(fd, 65536):
            if self._echo is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._echo.write(chunk)
                    self._echo.flush()
            self._tail += chunk
            del self._tail[: max(0, len(self._tail) - self._limit)]

    def tail(self) -> str:
        self.join(timeout=2.0)  # a straggler outside a pid namespace may hold the pipe open
        return bytes(self._tail).decode("utf-8", "replace")


def _echo_streams(config: SandboxConfig) -> tuple[IO[bytes] | None, IO[bytes] | None]:
    if not config.echo_output:
        return None, None
    return getattr(sys.stdout, "buffer", None), getattr(sys.stderr, "buffer", None)


def _read_status(fd: int, deadline: float) -> dict[str, object] | None:
    """The launcher's one JSON line, or None if it closed the pipe or the deadline passed first."""
    data = b""
    while b"\n" not in data and len(data) < _STATUS_MAX:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return None
        chunk = os.read(fd, _STATUS_MAX - len(data))
        if not chunk:
            break
        data += chunk
    try:
        report = json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def _count_in_namespace(pidns: str) -> int:
    """Processes whose pid namespace is the sandbox's (the kernel's RLIMIT_NPROC never binds root)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += os.readlink(f"/proc/{entry.name}/ns/pid") == pidns
            except OSError:
                continue
    return count


def _supervise(proc: subprocess.Popen[bytes], deadline: float, pidns: str, max_processes: int) -> str:
    """Wait for the command; returns why it had to be killed, or "" when it ended by itself."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "wall-clock timeout"
        try:
            proc.wait(timeout=min(remaining, _POLL_SECONDS) if pidns else remaining)
            return ""
        except subprocess.TimeoutExpired:
            pass
        if pidns:
            seen = _count_in_namespace(pidns)
            if seen > max_processes:
                return f"process limit: {seen} processes, more than {max_processes}"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run(command: Sequence[str], config: SandboxConfig | None = None, events_file: str = "") -> SandboxResult:
    """Run ``command`` under every isolation layer the host allows and report what happened.

    The command starts in ``config.cwd`` (default: the caller's working folder) and may write only to the
    output folder. ``events_file``: name, inside the output folder, of the JSON-lines evidence written by
    the probe (:mod:`modelseal.sandbox.probe`); its events are parsed into the result.
    """
    config = config or SandboxConfig()
    if not command:
        raise SandboxError("no command to run")
    cwd = (config.cwd or Path.cwd()).resolve()
    with output_folder(config, "modelseal-sandbox-out-") as (output, kept):
        private = Path(tempfile.mkdtemp(prefix="modelseal-sandbox-"))
        try:
            return _run(command, config, events_file, output, kept, private, cwd)
        finally:
            shutil.rmtree(private, ignore_errors=True)


def _run(
    command: Sequence[str],
    config: SandboxConfig,
    events_file: str,
    output: Path,
    kept: bool,
    private: Path,
    cwd: Path,
) -> SandboxResult:
    home = private / "home"
    home.mkdir()
    limits = config.limits
    spec = {
        **{k: v for k, v in asdict(limits).items() if k != "wall_seconds"},
        "namespaces": config.namespaces,
        "landlock": config.landlock,
        "seccomp": config.seccomp,
        "writable": [str(output), str(home)],
        "cwd": str(cwd),
        "min_level": config.min_level.label,
    }
    read_fd, write_fd = os.pipe()
    spec["status_fd"] = write_fd
    echo_out, echo_err = _echo_streams(config)
    started = time.monotonic()
    try:
        try:
            proc = subprocess.Popen(
                [*python_module("modelseal.sandbox.launcher", json.dumps(spec)), *command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_minimal_env(config, str(home), str(output)),
                cwd=str(cwd),
                start_new_session=True,
                pass_fds=(write_fd,),
                close_fds=True,
            )
        finally:
            os.close(write_fd)
        assert proc.stdout is not None and proc.stderr is not None
        pumps = (
            _Pump(proc.stdout, echo_out, config.capture_bytes),
            _Pump(proc.stderr, echo_err, config.capture_bytes),
        )
        for pump in pumps:
            pump.start()
        deadline = started + limits.wall_seconds
        status = _read_status(read_fd, deadline)
        pidns = str(status.get("pidns") or "") if status else ""
        killed_for = _supervise(proc, deadline, pidns, limits.max_processes)
        _kill_group(proc.pid)  # stragglers of a finished command go too
        returncode = proc.wait()
        stdout, stderr = (pump.tail() for pump in pumps)
        proc.stdout.close()
        proc.stderr.close()
        seconds = time.monotonic() - started
        events = _read_events(output / events_file) if events_file else ()
        kept_output = output if kept else None
        return _result(
            command, config, status, returncode, killed_for, seconds, kept_output, stdout, stderr, events
        )
    finally:
        os.close(read_fd)


def _result(
    command: Sequence[str],
    config: SandboxConfig,
    status: dict[str, object] | None,
    returncode: int,
    killed_for: str,
    seconds: float,
    output: Path | None,
    stdout: str,
    stderr: str,
    events: tuple[Event, ...],
) -> SandboxResult:
    limits = {k: int(v) if float(v).is_integer() else v for k, v in asdict(config.limits).items()}
    output_dir = str(output) if output is not None else ""
    if status is None:  # the launcher died before reporting: nothing is known to be in force
        return SandboxResult(
            tuple(command),
            IsolationLevel.WEAK,
            (),
            None,
            None,
            killed_for,
            "the launcher failed before applying isolation",
            seconds,
            output_dir,
            stdout,
            stderr,
            events,
            limits,
        )
    raw_layers = status.get("layers")
    layers = tuple(Layer.from_json(x) for x in raw_layers) if isinstance(raw_layers, list) else ()
    level = IsolationLevel.parse(str(status.get("level", "weak")))
    refused = str(status.get("refused") or "")
    if refused and returncode != EXIT_REFUSED:
        refused = ""  # the launcher said it refused, yet the command ran: trust the exit, not the text
    return SandboxResult(
        tuple(command),
        level,
        layers,
        exit_code=returncode if returncode >= 0 and not killed_for else None,
        signal=-returncode if returncode < 0 and not killed_for else None,
        killed_for=killed_for,
        refused=refused,
        seconds=seconds,
        output_dir=output_dir,
        stdout_tail=stdout,
        stderr_tail=stderr,
        events=events,
        limits=limits,
    )


def _read_events(path: Path, max_events: int = 10_000) -> tuple[Event, ...]:
    """Parse the probe's JSON lines. The payload ran in the same process as the recorder and may have
    written to the file too, so malformed lines become a ``tampered`` event instead of an error."""
    if not path.is_file():
        return ()
    events: list[Event] = []
    bad = 0
    with path.open("rb") as fh:
        for raw in fh:
            if len(events) >= max_events:
                events.append(Event("limit", "events.truncated", f"more than {max_events} events"))
                break
            try:
                data = json.loads(raw)
                events.append(
                    Event(str(data["kind"]), str(data["action"]), str(data.get("detail", ""))[:2000])
                )
            except (ValueError, KeyError, TypeError):
                bad += 1
    if bad:
        events.append(
            Event("tampered", "events.malformed", f"{bad} lines of the evidence file are not records")
        )
    return tuple(events)
