"""The inventory's record: one model reference, wherever it was found."""

from __future__ import annotations

from dataclasses import dataclass, field

from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding


@dataclass(frozen=True)
class Reference:
    """A model in use: a file or folder on disk, a hub cache entry, or a load call in source code."""

    kind: str
    """``code``, ``folder``, ``file`` or ``hf-cache``."""
    location: str
    """``path:line`` for code, the path for files and folders."""
    model: str
    """Hub id or path; ``<dynamic: expr>`` when code computes it at run time."""
    loader: str = ""
    """The resolved callable (``torch.load``, ``transformers.AutoModel.from_pretrained``)."""
    revision: str | None = None
    flags: tuple[str, ...] = ()
    """``unpinned-revision``, ``unsafe-deserialisation``, ``remote-code``, ``dynamic-source``..."""
    format: str = ""
    files: tuple[str, ...] = field(default=())

    def findings(self) -> tuple[Finding, ...]:
        """The flags as catalogued findings, so SARIF, policies and waivers can name them."""
        where = f"{self.loader or self.kind} of {self.model}"
        return tuple(
            make_finding(FLAG_RULES[f], f"{where} at {self.location}", file=self.location)
            for f in self.flags
            if f in FLAG_RULES
        )


UNPINNED = "unpinned-revision"
UNSAFE = "unsafe-deserialisation"
REMOTE_CODE = "remote-code"
DYNAMIC = "dynamic-source"
FLAG_RULES = {
    UNPINNED: "MS-INVENTORY-UNPINNED-REVISION",
    UNSAFE: "MS-INVENTORY-UNSAFE-LOADER",
    REMOTE_CODE: "MS-INVENTORY-REMOTE-CODE",
    DYNAMIC: "MS-INVENTORY-DYNAMIC-SOURCE",
}
