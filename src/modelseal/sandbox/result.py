"""The outcome of a sandboxed run, as plain data that round-trips through JSON (never pickle)."""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from typing import Any

from modelseal.sandbox.layers import IsolationLevel, Layer

RESOURCE_LIMIT_SIGNALS: dict[int, str] = {signal.SIGXCPU: "CPU time", signal.SIGXFSZ: "file size"}
"""Signals the kernel sends when a resource limit is reached, and the limit each one means."""


@dataclass(frozen=True)
class Event:
    """Something the evidence recorder saw the sandboxed Python attempt (``kind`` is a category)."""

    kind: str
    """``process``, ``network``, ``file-write``, ``import``, ``native-code``, ``load`` or ``tampered``."""
    action: str
    """The audit event or outcome (``socket.connect``, ``os.fork``, ``load.error``)."""
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "action": self.action, "detail": self.detail}


@dataclass(frozen=True)
class SandboxResult:
    command: tuple[str, ...]
    level: IsolationLevel
    layers: tuple[Layer, ...]
    exit_code: int | None
    """The command's exit status; None when it was killed by a signal or never started."""
    signal: int | None = None
    killed_for: str = ""
    """Why the supervisor killed the run (``wall-clock timeout``, ``process limit: ...``); "" otherwise."""
    refused: str = ""
    """Why the command was not started (isolation below the required level, launcher failure)."""
    seconds: float = 0.0
    output_dir: str = ""
    stdout_tail: str = ""
    stderr_tail: str = ""
    events: tuple[Event, ...] = field(default=())
    limits: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.killed_for and not self.refused

    @property
    def timed_out(self) -> bool:
        return self.killed_for == "wall-clock timeout"

    @property
    def stopped_by(self) -> str:
        """A short account of how the run ended, in words."""
        if self.refused:
            return f"refused: {self.refused}"
        if self.killed_for:
            return f"killed by the supervisor: {self.killed_for}"
        if self.signal is not None:
            limit = RESOURCE_LIMIT_SIGNALS.get(self.signal, "")
            reason = f"{limit} limit" if limit else ""
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = str(self.signal)
            return f"killed by signal {name}" + (f" ({reason})" if reason else "")
        return f"exited with status {self.exit_code}"

    def to_json(self) -> dict[str, Any]:
        return {
            "command": list(self.command),
            "isolation": {"level": self.level.label, "layers": [layer.to_json() for layer in self.layers]},
            "exit_code": self.exit_code,
            "signal": self.signal,
            "killed_for": self.killed_for,
            "refused": self.refused,
            "stopped_by": self.stopped_by,
            "seconds": round(self.seconds, 3),
            "output_dir": self.output_dir,
            "limits": self.limits,
            "events": [e.to_json() for e in self.events],
            "stdout_tail": self.stdout_tail,
            "stderr_tail": self.stderr_tail,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)
