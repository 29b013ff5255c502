"""Input sanitisers: each returns the cleaned bytes and what it removed (:class:`Sanitized`).

:func:`sanitize` picks the sanitiser by content (magic bytes), never by a file name: JPEG, PNG and WebP
images, RIFF/WAVE and FLAC audio, PDF documents (FLAC and PDF with the extra ``media``), and anything else
only when it is valid UTF-8 text. Other formats (TIFF, GIF...) are refused: a defence that cannot clean an
input must not pass it through.
"""

from __future__ import annotations

from modelseal.defense.errors import RefusedInput
from modelseal.defense.sanitize.interface import Change, Sanitized

__all__ = ["Change", "RefusedInput", "Sanitized", "sanitize", "sniff"]

REFUSED_MAGIC = {b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"GIF8": "GIF"}


def sniff(data: bytes) -> str:
    """``image``, ``audio``, ``document`` or ``text`` by content; refuses what no sanitiser here can clean."""
    from modelseal.defense.sanitize.images import sniff_image

    if sniff_image(data):
        return "image"
    if (data[:4] == b"RIFF" and data[8:12] == b"WAVE") or data[:4] == b"fLaC":
        return "audio"
    if data[:5] == b"%PDF-":
        return "document"
    for magic, name in REFUSED_MAGIC.items():
        if data.startswith(magic):
            raise RefusedInput(f"{name} input is not supported by the sanitisers (images: JPEG, PNG, WebP; "
                               "audio: WAV, FLAC; documents: PDF); convert it first")  # fmt: skip
    if b"\x00" in data[:4096]:
        raise RefusedInput("binary content of an unknown format")
    return "text"


def sanitize(data: bytes) -> Sanitized:
    """Clean an input of any supported kind, chosen by content."""
    kind = sniff(data)
    if kind == "image":
        from modelseal.defense.sanitize.images import sanitize_image

        return sanitize_image(data)
    if kind == "audio":
        from modelseal.defense.sanitize.audio import sanitize_audio

        return sanitize_audio(data)
    if kind == "document":
        from modelseal.defense.sanitize.documents import sanitize_pdf

        return sanitize_pdf(data)
    from modelseal.defense.sanitize.text import sanitize_text

    return sanitize_text(data)
