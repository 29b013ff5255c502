"""What a sandboxed run may use. Defaults fit loading one large model; tighten them per call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modelseal.sandbox.layers import IsolationLevel

GiB = 1 << 30
EXIT_REFUSED = 125
"""Exit status of the launcher when it refuses to start the command (isolation below the minimum)."""


@dataclass(frozen=True)
class SandboxLimits:
    memory_bytes: int = 16 * GiB
    """Address space of each process (``RLIMIT_AS``): allocations past it fail with MemoryError/ENOMEM."""
    cpu_seconds: int = 600
    """CPU time of each process (``RLIMIT_CPU``); the kernel sends SIGXCPU then SIGKILL."""
    max_processes: int = 64
    """Processes and threads (``RLIMIT_NPROC``), counted inside the sandbox's user namespace."""
    max_file_bytes: int = 4 * GiB
    """Largest file the run may write (``RLIMIT_FSIZE``)."""
    max_open_files: int = 1024
    wall_seconds: float = 600.0
    """Wall-clock timeout after which the whole process group (and pid namespace) is killed."""


@dataclass(frozen=True)
class SandboxConfig:
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    output_dir: Path | None = None
    """The only folder the run may write (besides a private HOME/TMPDIR deleted afterwards); when None, a
    temporary folder deleted after the run (what the command wrote there is discarded)."""
    min_level: IsolationLevel = IsolationLevel.WEAK
    """Refuse to start the command when the host cannot reach this level."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra variables for the command. Nothing else is inherited: no tokens, no proxies, no HOME."""
    namespaces: bool = True
    landlock: bool = True
    seccomp: bool = True
    cwd: Path | None = None
    """Working directory of the command (readable, not writable unless it is the output folder); the
    caller's working folder when None, so relative paths in the command mean what they mean outside."""
    capture_bytes: int = 64 * 1024
    """How much of the end of stdout and stderr the result keeps."""
    echo_output: bool = False
    """Also copy the command's stdout and stderr to this process's, as they arrive (``sandbox run``)."""
