"""What differs between an expected and an observed model: one vocabulary for signatures, locks, mirrors
and the Hugging Face cache record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Difference:
    """One named difference. ``kind`` is one of ``changed``, ``added``, ``missing``, ``rejected`` (a file
    refused while resolving, such as a link leaving the cache), ``revision``, ``repo``, ``signer``, ``entry``
    (a lock entry whose manifest digest does not match its own files)."""

    kind: str
    subject: str
    """The file (POSIX path relative to the model), the key or the identity that differs."""
    detail: str = ""

    def __str__(self) -> str:
        text = {
            "changed": f"{self.subject}: content changed",
            "added": f"{self.subject}: file appeared (not in the expected manifest)",
            "missing": f"{self.subject}: file vanished (expected in the manifest)",
            "rejected": f"{self.subject}: refused",
        }.get(self.kind, f"{self.kind} {self.subject}")
        return f"{text} ({self.detail})" if self.detail else text


def diff_digests(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[Difference]:
    """Files changed, appeared or vanished, sorted by path so reports are stable."""
    out: list[Difference] = []
    for name in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(name), actual.get(name)
        if want is None:
            out.append(Difference("added", name, f"digest {got}"))
        elif got is None:
            out.append(Difference("missing", name, f"expected {want}"))
        elif want != got:
            out.append(Difference("changed", name, f"expected {want}, found {got}"))
    return out
