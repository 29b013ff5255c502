"""One error base for the package, and the errors that cross stage boundaries."""

from __future__ import annotations


class ModelsealError(Exception):
    """Base of every error modelseal raises on purpose; the CLI turns it into exit code 2."""


class ConfigError(ModelsealError):
    """A configuration or policy file is malformed; the message names the file and the problem."""


class SourceError(ModelsealError):
    """A target could not be resolved into files (missing path, unknown scheme)."""


class LimitExceeded(ModelsealError):
    """Input went past a configured bound (size, depth, count); scanners turn it into a finding."""

    def __init__(self, what: str, limit: int, seen: int | None = None) -> None:
        self.what = what
        self.limit = limit
        self.seen = seen
        seen_text = f" (saw {seen})" if seen is not None else ""
        super().__init__(f"{what} exceeds the limit of {limit}{seen_text}")


class Truncated(ModelsealError):
    """The stream ended before a structure it declared was complete."""


class DecompressionBomb(LimitExceeded):
    """A stream expands far beyond its compressed size."""

    def __init__(self, produced: int, compressed: int, ratio: int) -> None:
        super().__init__("decompression ratio", ratio, produced // max(compressed, 1))
        self.args = (f"{produced} bytes decompressed from {compressed} (more than {ratio}x)",)

    def __str__(self) -> str:
        return str(self.args[0])


class MissingExtra(ModelsealError):
    """A feature needs an optional library that is not installed. The message names the extra that brings it,
    so every command says the same one line (exit 2) instead of a traceback."""

    def __init__(self, extra: str, modules: tuple[str, ...], feature: str = "") -> None:
        self.extra = extra
        self.modules = modules
        what = f"{feature}: the" if feature else "the"
        missing = ", ".join(modules)
        install = f"pip install 'modelseal[{extra}]'"
        super().__init__(f"{what} '{extra}' extra is not installed (no {missing}): {install}")
