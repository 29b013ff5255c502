"""Tokenizer files: a malicious tokenizer controls what the model reads and what the user sees.

Normalizers, pre-tokenizers and decoders may rewrite text; only whitespace and punctuation rewrites
(``" "`` → ``"▁"``) are what real tokenizers do, so a rule that replaces letters or words is reported.
Added tokens are checked for ordinary words marked special (they vanish when decoding with
``skip_special_tokens``), empty content, invisible or bidirectional-control characters, and words that
shadow a vocabulary entry with another id.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from modelseal.core.artifact import Artifact
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ArtifactScanner, ScanContext
from modelseal.scanners.repofiles import read_json

TOKENIZER_FILES = frozenset({"tokenizer.json", "tokenizer_config.json", "added_tokens.json"})
_WORD = re.compile(r"^[^\W\d_]{2,}$")
_ALNUM = re.compile(r"[^\W_]")
MAX_FINDINGS = 30


def _components(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """A normalizer/pre-tokenizer/decoder and the members of its ``Sequence``s."""
    if depth > 32 or not isinstance(node, dict):
        return
    yield node
    for key in ("normalizers", "pretokenizers", "decoders"):
        for child in node.get(key) or []:
            yield from _components(child, depth + 1)


_REGEX_CLASS_ESCAPE = re.compile(r"\\[sbBAZ]")
"""Regex escapes for whitespace and boundaries (``\\s+``): they spell no letter of a word."""


def _pattern(component: dict[str, Any]) -> tuple[str, str]:
    """The pattern as written, and the text it spells: a regex's class escapes (``\\s``, ``\\d``) are not
    letters it rewrites (the SentencePiece convention ``Replace(\\s+ -> ▁)`` rewrites whitespace)."""
    pattern = component.get("pattern")
    if isinstance(pattern, dict):
        if isinstance(pattern.get("Regex"), str):
            return pattern["Regex"], _REGEX_CLASS_ESCAPE.sub("", pattern["Regex"])
        value = pattern.get("String", "")
        return (value, value) if isinstance(value, str) else ("", "")
    return (pattern, pattern) if isinstance(pattern, str) else ("", "")


def _rewrites(doc: dict[str, Any], relpath: str) -> list[Finding]:
    out: list[Finding] = []
    for stage in ("normalizer", "pre_tokenizer", "decoder"):
        for comp in _components(doc.get(stage)):
            if comp.get("type") != "Replace":
                continue
            (pattern, spelled), content = _pattern(comp), comp.get("content", "")
            if _ALNUM.search(spelled) or (isinstance(content, str) and _ALNUM.search(content)):
                out.append(
                    make_finding(
                        "MS-TOKENIZER-REWRITE",
                        f"{stage} replaces {pattern[:60]!r} with {str(content)[:60]!r}",
                        file=relpath,
                        evidence=str(comp)[:300],
                    )
                )
    return out


def _invisible(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cf", "Cc", "Co", "Cn") and ch not in "\t\n\r" for ch in text)


def _token_findings(
    tokens: Iterator[tuple[int | None, dict[str, Any]]], vocab: dict[str, Any], relpath: str
) -> list[Finding]:
    out: list[Finding] = []
    for token_id, tok in tokens:
        if len(out) >= MAX_FINDINGS:
            break
        content = tok.get("content")
        if not isinstance(content, str):
            continue
        shown = f"added token {token_id} {content[:40]!r}"
        why = ""
        if not content:
            why = "is empty"
        elif _invisible(content):
            why = "contains invisible or bidirectional-control characters"
        elif tok.get("special") and _WORD.match(content):
            why = "is an ordinary word marked special, so decoding with skip_special_tokens drops it"
        elif token_id is not None and isinstance(vocab.get(content), int) and vocab[content] != token_id:
            why = f"shadows the vocabulary entry {content[:40]!r} (id {vocab[content]}) with another id"
        if why:
            out.append(
                make_finding(
                    "MS-TOKENIZER-HIDDEN-TOKEN", f"{shown} {why}", file=relpath, evidence=str(tok)[:300]
                )
            )
    return out


def _added_tokens(doc: dict[str, Any]) -> Iterator[tuple[int | None, dict[str, Any]]]:
    """Added tokens as (id, token) from tokenizer.json (a list) or tokenizer_config.json (a mapping)."""
    listed = doc.get("added_tokens")
    if isinstance(listed, list):
        for tok in listed:
            if isinstance(tok, dict):
                yield (tok["id"] if isinstance(tok.get("id"), int) else None), tok
    decoder = doc.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for key, tok in decoder.items():
            if isinstance(tok, dict):
                yield (int(key) if str(key).isdigit() else None), tok


class TokenizerScanner(ArtifactScanner):
    name = "tokenizer"

    def scan_artifact(self, artifact: Artifact, ctx: ScanContext) -> tuple[Finding, ...]:
        out: list[Finding] = []
        for entry in artifact.files:
            if posixpath.basename(entry.relpath) not in TOKENIZER_FILES:
                continue
            doc, problems = read_json(entry, ctx.limits, "MS-TOKENIZER-MALFORMED")
            out.extend(problems)
            if not isinstance(doc, dict):
                continue
            if posixpath.basename(entry.relpath) == "added_tokens.json":
                tokens = ((v, {"content": k}) for k, v in doc.items() if isinstance(v, int))
                out.extend(_token_findings(tokens, {}, entry.relpath))
                continue
            model = doc.get("model")
            vocab = model.get("vocab") if isinstance(model, dict) else None
            out.extend(_rewrites(doc, entry.relpath))
            out.extend(
                _token_findings(_added_tokens(doc), vocab if isinstance(vocab, dict) else {}, entry.relpath)
            )
        return tuple(out)
