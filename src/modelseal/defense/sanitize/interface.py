"""What every sanitiser returns: the cleaned bytes and what it removed or changed, item by item."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Change:
    """One kind of thing removed or changed."""

    what: str
    """Stable short name: ``exif``, ``icc_profile``, ``appended-bytes``, ``bidi-control``..."""
    detail: str = ""
    """For people: which code points, how many bytes, how much energy."""
    count: int = 1


@dataclass(frozen=True)
class Sanitized:
    """A cleaned input: ``data`` is safe to pass on, ``changes`` says what was taken out."""

    kind: str
    """``image``, ``text``, ``audio`` or ``document``."""
    format: str
    """The container written: ``JPEG``, ``PNG``, ``WEBP``, ``WAV``, ``PDF`` or ``UTF-8``."""
    data: bytes = field(repr=False)
    changes: tuple[Change, ...] = ()

    @property
    def clean(self) -> bool:
        """Nothing had to be removed or changed."""
        return not self.changes
