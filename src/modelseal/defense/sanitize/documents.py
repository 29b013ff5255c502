"""PDF: a fresh document holding only the pages, so metadata and active content stay behind.

The pages are copied into a new document with pypdf (extra ``media``): the document information
dictionary, the XMP stream, the catalogue's actions, name trees (JavaScript, embedded files), forms and
anything appended after the end of the file are not carried over; on each page, its own metadata and
actions are removed, and so are link annotations that run JavaScript or launch programs. Each removal is
named. Encrypted or unparseable files are refused, never passed through.
"""

from __future__ import annotations

import io
from typing import cast

from modelseal.defense.errors import RefusedInput
from modelseal.defense.sanitize.interface import Change, Sanitized

MAX_PDF_BYTES = 64 << 20
MAX_PAGES = 2000
CATALOG_EXTRAS = ("/OpenAction", "/AA", "/Names", "/AcroForm", "/Metadata", "/PieceInfo", "/Threads", "/URI")
"""Entries of the document catalogue that the copied pages do not need."""
PAGE_EXTRAS = ("/AA", "/Metadata", "/PieceInfo")
ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/RichMediaExecute"}


def sanitize_pdf(data: bytes, *, max_bytes: int = MAX_PDF_BYTES, max_pages: int = MAX_PAGES) -> Sanitized:
    from modelseal.core.extras import require

    require("media", "pypdf", feature="PDF documents")
    from pypdf import PdfReader, PdfWriter
    from pypdf.errors import PyPdfError
    from pypdf.generic import DictionaryObject

    if len(data) > max_bytes:
        raise RefusedInput(f"PDF of {len(data)} bytes exceeds the limit of {max_bytes}")
    changes: list[Change] = []
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise RefusedInput("encrypted PDF: it cannot be inspected, so it is not passed on")
        if len(reader.pages) > max_pages:
            raise RefusedInput(f"PDF of {len(reader.pages)} pages exceeds the limit of {max_pages}")
        info = reader.metadata
        if info:
            changes.append(Change("pdf-info", ", ".join(sorted(str(k) for k in info)), len(info)))
        root = cast("DictionaryObject", reader.trailer["/Root"].get_object())
        dropped = [key for key in CATALOG_EXTRAS if key in root]
        if dropped:
            changes.append(Change("pdf-catalog", ", ".join(dropped), len(dropped)))
        writer = PdfWriter()
        removed_page, removed_links = 0, 0
        for page in reader.pages:
            copied = writer.add_page(page)
            for key in PAGE_EXTRAS:
                if key in copied:
                    del copied[key]
                    removed_page += 1
            removed_links += _drop_active_annotations(copied)
        if removed_page:
            changes.append(Change("pdf-page-metadata", "page actions or metadata", removed_page))
        if removed_links:
            changes.append(
                Change("pdf-active-link", "annotations that run code or launch programs", removed_links)
            )
        writer.metadata = None
        out = io.BytesIO()
        writer.write(out)
    except RefusedInput:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise RefusedInput(f"malformed PDF: {exc}") from None
    tail = data.rstrip()[data.rstrip().rfind(b"%%EOF") + 5 :] if b"%%EOF" in data else b""
    if tail.strip():
        changes.append(Change("appended-bytes", f"{len(tail)} bytes after the end of the file"))
    return Sanitized("document", "PDF", out.getvalue(), tuple(changes))


def _drop_active_annotations(page: object) -> int:
    """Remove the annotations of ``page`` whose action runs code, launches a program or submits data."""
    annots = page.get("/Annots")  # type: ignore[attr-defined]
    if annots is None:
        return 0
    annots = annots.get_object()
    keep = []
    for ref in annots:
        annot = ref.get_object()
        action = annot.get("/A")
        kind = action.get_object().get("/S") if action is not None else None
        if kind in ACTIVE_ACTIONS or "/AA" in annot:
            continue
        keep.append(ref)
    removed = len(annots) - len(keep)
    if removed:
        from pypdf.generic import ArrayObject, NameObject

        page[NameObject("/Annots")] = ArrayObject(keep)  # type: ignore[index]
    return removed
