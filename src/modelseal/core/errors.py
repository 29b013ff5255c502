"""One error base for the package, one base per area below it, each saying what to do next.

Every area raises its own base (``ConfigError``, ``SourceError``, ``IntegrityError``, ``PolicyError``,
``ReportError``...) so a caller can tell where a failure came from; every error carries a hint, after
sigstore's ``diagnostics()``: one line on what to do next, which the CLI prints after the error itself.
"""

from __future__ import annotations


class ModelsealError(Exception):
    """Base of every error modelseal raises on purpose; the CLI turns it into exit code 2."""

    hint: str = "run the command with --help to check its arguments"
    """What to do next, for every error of this class; an instance may carry a sharper one."""

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        if hint is not None:
            self.hint = hint

    def diagnostics(self) -> str:
        """One line: what to do next."""
        return self.hint

    def one_line(self) -> str:
        """The error and what to do next on one line, as every command prints it (stderr, no wrapping)."""
        message, hint = " ".join(str(self).split()), self.diagnostics()
        return message if not hint or hint in message else f"{message} (hint: {hint})"


class UsageError(ModelsealError):
    """An argument is outside its choices (a class, a rating, a format); the CLI exits 4 on it."""

    hint = "run the command with --help to see the values it accepts"


class ConfigError(ModelsealError):
    """A configuration or policy file is malformed; the message names the file and the problem."""

    hint = "fix the file named above (docs/gate.md and the README describe its settings)"


class SourceError(ModelsealError):
    """A target could not be resolved into files (missing path, unknown scheme)."""

    hint = "check the target: a path, hf://org/name[@revision] or s3://bucket/prefix"


class IntegrityError(ModelsealError):
    """Hashing, signing, verifying or locking could not be done (unreadable key, lockfile, bundle)."""

    hint = "check the key, signature and lockfile paths given (docs/integrity.md)"


class PolicyError(ModelsealError):
    """The gate could not decide (audit log unusable, policy unusable); callers treat it as a block."""

    hint = "run `modelseal audit verify` and check the policy file (docs/gate.md)"


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
        super().__init__(f"{what} '{extra}' extra is not installed (no {missing}): {install}", hint=install)
