"""Run untrusted commands and model loads in a separate, confined process; results are JSON only.

Layers are applied by :mod:`.launcher` inside the child and reported back, so every result states the
isolation it actually had (:class:`IsolationLevel`), and a caller can demand a minimum.
"""

from __future__ import annotations

from modelseal.sandbox.config import SandboxConfig, SandboxLimits
from modelseal.sandbox.layers import IsolationLevel, Layer
from modelseal.sandbox.result import Event, SandboxResult
from modelseal.sandbox.runner import SandboxError, run

__all__ = [
    "Event",
    "IsolationLevel",
    "Layer",
    "SandboxConfig",
    "SandboxError",
    "SandboxLimits",
    "SandboxResult",
    "run",
]
