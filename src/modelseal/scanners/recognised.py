"""Plain text: model loaders cannot run it as code; text that is code (``.py``, chat templates, configs
naming code) is analysed by the repository scanners."""

from __future__ import annotations

from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome


class TextScanner(Scanner):
    format = "text"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        return ScanOutcome("text")
