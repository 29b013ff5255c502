"""Errors of the run-time defences."""

from __future__ import annotations

from modelseal.core.errors import ModelsealError


class DefenseError(ModelsealError):
    """A run-time defence could not do its work (bad configuration, unusable reference data)."""

    hint = "check the arguments and reference files given (docs/runtime.md)"


class RefusedInput(DefenseError):
    """Input a sanitiser will not pass on: malformed, truncated, over a limit, or of an unsupported kind.

    A serving loop catches it and rejects the request; it never crashes the loop.
    """

    hint = "the input was rejected on purpose: send well-formed images, UTF-8 text or WAV within the limits"
