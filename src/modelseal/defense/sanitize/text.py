"""Text: remove the characters that carry hidden triggers, normalise, and fold look-alike letters.

A text trigger can hide where a reviewer cannot see it: zero-width and other default-ignorable code points,
bidirectional controls that reorder what is displayed (Trojan Source), Unicode tag characters (invisible
ASCII copies, used to smuggle instructions), variation selectors (which can encode bytes), and homoglyphs
(Cyrillic ``а`` for Latin ``a``). Each class is removed or folded and reported with the code points seen.

Invisible classes are Unicode's own definitions (Default_Ignorable_Code_Point, Bidi_Control, the Tags
block, the Variation Selectors blocks); the homoglyph table is Unicode's confusables data as shipped by the
maintained ``confusable_homoglyphs`` package, not a hand-made list.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from modelseal.defense.errors import RefusedInput
from modelseal.defense.sanitize.interface import Change, Sanitized

MAX_TEXT_BYTES = 1 << 20
"""Largest text accepted (1 MiB)."""

BIDI_CONTROLS = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
"""Unicode's Bidi_Control property."""
TAGS = range(0xE0000, 0xE0080)
VARIATION_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0), range(0x180B, 0x1810))
"""Variation selectors and the Mongolian free variation selectors."""
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
"""Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt, Unicode 15)."""
KEPT_CONTROLS = frozenset("\t\n\r")


def _char_class(cp: int) -> str | None:
    """Which hidden-character class a code point belongs to, or None to keep it (most specific first)."""
    if cp in BIDI_CONTROLS:
        return "bidi-control"
    if cp in TAGS:
        return "tag-character"
    if any(cp in r for r in VARIATION_SELECTORS):
        return "variation-selector"
    if any(lo <= cp <= hi for lo, hi in DEFAULT_IGNORABLE):
        return "invisible"
    ch = chr(cp)
    category = unicodedata.category(ch)
    if category == "Cf":
        return "invisible"
    if category == "Cc" and ch not in KEPT_CONTROLS:
        return "control"
    return None


@lru_cache(maxsize=1)
def _confusable_map() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letter or digit it imitates (from Unicode's confusables data)."""
    import json
    from importlib.resources import files

    try:
        data = json.loads(files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    except ModuleNotFoundError:
        raise RefusedInput(
            "folding homoglyphs needs the confusables table: pip install 'modelseal[runtime]'",
            hint="install the runtime extra, or pass fold_confusables=False",
        ) from None
    table: dict[str, str] = {}
    for char, glyphs in data.items():
        if len(char) != 1 or char.isascii():
            continue
        ascii_twins = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalnum()]
        if ascii_twins:
            table[char] = ascii_twins[0]
    return table


@dataclass(frozen=True)
class TextOptions:
    max_bytes: int = MAX_TEXT_BYTES
    normalize: str = "NFKC"
    fold_confusables: str = "mixed"
    """``mixed``: fold look-alikes only inside words that also hold ASCII letters (a homograph attack;
    Greek or Cyrillic prose is left alone); ``all``: fold every look-alike; ``none``."""


def _format_points(points: Counter[int]) -> str:
    return " ".join(f"U+{cp:04X}" + (f"x{n}" if n > 1 else "") for cp, n in sorted(points.items()))


def _fold(text: str, mode: str) -> tuple[str, Counter[int]]:
    if mode == "none":
        return text, Counter()
    table = _confusable_map()
    folded: Counter[int] = Counter()
    out: list[str] = []
    word: list[str] = []

    def flush() -> None:
        mixed = mode == "all" or any(c.isascii() and c.isalpha() for c in word)
        for c in word:
            twin = table.get(c) if mixed else None
            if twin is not None:
                folded[ord(c)] += 1
            out.append(twin or c)
        word.clear()

    for c in text:
        if c.isalnum():
            word.append(c)
        else:
            flush()
            out.append(c)
    flush()
    return "".join(out), folded


def sanitize_text(text: str | bytes, options: TextOptions | None = None) -> Sanitized:
    """Clean one text; invalid UTF-8 and lone surrogates are refused (never silently replaced)."""
    opts = options or TextOptions()
    if isinstance(text, bytes):
        if len(text) > opts.max_bytes:
            raise RefusedInput(f"text of {len(text)} bytes exceeds the limit of {opts.max_bytes}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RefusedInput(f"invalid UTF-8 at byte {exc.start}: {exc.reason}") from None
    elif len(text) * 4 > opts.max_bytes and len(text.encode("utf-8", "surrogatepass")) > opts.max_bytes:
        raise RefusedInput(f"text exceeds the limit of {opts.max_bytes} bytes")
    surrogate = next((i for i, c in enumerate(text) if 0xD800 <= ord(c) <= 0xDFFF), None)
    if surrogate is not None:
        raise RefusedInput(f"lone surrogate U+{ord(text[surrogate]):04X} at character {surrogate}")
    removed: dict[str, Counter[int]] = {}
    kept: list[str] = []
    for c in text:
        cls = _char_class(ord(c))
        if cls is None:
            kept.append(c)
        else:
            removed.setdefault(cls, Counter())[ord(c)] += 1
    stripped = "".join(kept)
    changes = [Change(cls, _format_points(pts), sum(pts.values())) for cls, pts in removed.items()]
    normal = unicodedata.normalize(opts.normalize, stripped) if opts.normalize else stripped  # type: ignore[arg-type]
    if normal != stripped:
        changed = Counter(ord(c) for c in stripped if unicodedata.normalize(opts.normalize, c) != c)  # type: ignore[arg-type]
        changes.append(
            Change("normalized", f"{opts.normalize}: {_format_points(changed)}", sum(changed.values()))
        )
    # Normalisation can itself produce hidden characters (compatibility forms): strip them again.
    normal = "".join(c for c in normal if _char_class(ord(c)) is None)
    folded_text, folded = _fold(normal, opts.fold_confusables)
    if folded:
        changes.append(Change("confusable", _format_points(folded), sum(folded.values())))
    return Sanitized("text", "UTF-8", folded_text.encode("utf-8"), tuple(changes))
