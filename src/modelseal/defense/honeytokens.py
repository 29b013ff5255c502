"""Honeytokens: strings planted where only an attacker (or a leaking model) would find them.

Plant them in training data, system prompts, canary documents or credentials stores; if one ever appears
in a model's output or in a log, something read what it should not have, or a model memorised and
regurgitates it. Tokens are random (unguessable, so a hit is never a coincidence) and recognisable by a
prefix, so a log scanner can find them without knowing every token.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class HoneytokenHit:
    token: str
    position: int
    where: str


@dataclass(frozen=True)
class Honeytokens:
    tokens: frozenset[str]
    prefix: str = "msh"

    @classmethod
    def generate(cls, count: int, prefix: str = "msh") -> Honeytokens:
        """``count`` new tokens ``<prefix>_<24 hex>`` (96 random bits each)."""
        return cls(frozenset(f"{prefix}_{secrets.token_hex(12)}" for _ in range(count)), prefix)

    def find(self, text: str, where: str = "output") -> list[HoneytokenHit]:
        """Every planted token in ``text``, and any token-shaped string with our prefix (a planted token
        from another set, or one slightly mangled by the model)."""
        hits = [
            HoneytokenHit(t, m.start(), where) for t in self.tokens for m in re.finditer(re.escape(t), text)
        ]
        shaped = re.compile(rf"\b{re.escape(self.prefix)}_[0-9a-f]{{16,32}}\b")
        known = {h.position for h in hits}
        hits += [
            HoneytokenHit(m.group(), m.start(), where)
            for m in shaped.finditer(text)
            if m.start() not in known
        ]
        return sorted(hits, key=lambda h: h.position)

    def scan_lines(self, lines: Iterable[str], where: str = "log") -> list[HoneytokenHit]:
        """Scan a log line by line; ``position`` is the line number."""
        return [
            HoneytokenHit(h.token, n, where) for n, line in enumerate(lines) for h in self.find(line, where)
        ]
