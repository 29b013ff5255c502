"""FLAC and PDF inputs (extra ``media``): built here with their metadata, active content and carriers;
the cleaned output holds none of them, each removal is named, and malformed files are refused."""

from __future__ import annotations

import io

import numpy as np
import pytest

from modelseal.defense.errors import RefusedInput
from modelseal.defense.sanitize import sanitize
from modelseal.defense.sanitize.audio import _energy_above

soundfile = pytest.importorskip("soundfile")
pypdf = pytest.importorskip("pypdf")
pytest.importorskip("scipy")


def _flac(rate: int = 48_000) -> bytes:
    """A second of speech-band tone plus an ultrasonic carrier, tagged, with an application block added."""
    t = np.arange(rate) / rate
    signal = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 21_000 * t)
    buf = io.BytesIO()
    with soundfile.SoundFile(buf, "w", rate, 1, format="FLAC") as sf:
        sf.title = "hidden title"
        sf.write(signal)
    data = buf.getvalue()
    size = int.from_bytes(data[5:8], "big")
    streaminfo, rest = data[4 : 8 + size], data[8 + size :]
    was_last = bool(streaminfo[0] & 0x80)
    app = b"MSxx" + b"application payload"
    block = bytes([2 | (0x80 if was_last else 0)]) + len(app).to_bytes(3, "big") + app
    return b"fLaC" + bytes([streaminfo[0] & 0x7F]) + streaminfo[1:] + block + rest


def test_flac_metadata_and_ultrasonic_carrier_are_gone() -> None:
    data = _flac()
    out = sanitize(data)
    assert (out.kind, out.format) == ("audio", "WAV")
    names = {c.what for c in out.changes}
    assert {"flac-metadata", "re-encoded", "out-of-band", "resampled"} <= names
    details = " ".join(c.detail for c in out.changes if c.what == "flac-metadata")
    assert "APPLICATION" in details and "VORBIS_COMMENT" in details
    assert b"hidden title" not in out.data and b"application payload" not in out.data
    cleaned, rate = soundfile.read(io.BytesIO(out.data))
    assert rate == 16_000 and _energy_above(cleaned[:, None], rate, 7_600) < 1e-4
    assert np.abs(cleaned).max() > 0.2  # the speech-band tone is kept


@pytest.mark.parametrize("cut", [6, 40, 2000])
def test_truncated_flac_is_refused(cut: int) -> None:
    with pytest.raises(RefusedInput, match="FLAC"):
        sanitize(_flac()[:cut])


def _pdf() -> bytes:
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

    writer = pypdf.PdfWriter()
    page = writer.add_blank_page(200, 200)
    writer.add_metadata({"/Author": "hidden author", "/Title": "hidden title"})
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert('opened');"),
        }
    )

    def link(action: str, key: str, value: str) -> DictionaryObject:
        return DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([NumberObject(v) for v in (0, 0, 10, 10)]),
            NameObject("/A"): DictionaryObject({NameObject("/S"): NameObject(action),
                                                NameObject(key): TextStringObject(value)}),
        })  # fmt: skip

    page[NameObject("/Annots")] = ArrayObject([
        writer._add_object(link("/JavaScript", "/JS", "app.alert('clicked');")),
        writer._add_object(link("/URI", "/URI", "https://example.org/")),
    ])  # fmt: skip
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue() + b"\nappended payload"


def test_pdf_metadata_and_active_content_are_gone() -> None:
    out = sanitize(_pdf())
    assert (out.kind, out.format) == ("document", "PDF")
    by_name = {c.what: c for c in out.changes}
    assert {"pdf-info", "pdf-catalog", "pdf-active-link", "appended-bytes"} <= set(by_name)
    assert "/Author" in by_name["pdf-info"].detail and "/OpenAction" in by_name["pdf-catalog"].detail
    assert by_name["pdf-active-link"].count == 1
    reader = pypdf.PdfReader(io.BytesIO(out.data))
    assert len(reader.pages) == 1 and not reader.metadata
    assert "/Names" not in reader.trailer["/Root"] and "/OpenAction" not in reader.trailer["/Root"]
    annots = [a.get_object()["/A"]["/S"] for a in reader.pages[0]["/Annots"]]
    assert annots == ["/URI"]  # the plain link stays
    assert b"hidden author" not in out.data and b"app.alert" not in out.data and b"appended" not in out.data


def test_clean_pdf_reports_only_what_it_had() -> None:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(100, 100)
    writer.metadata = None
    buf = io.BytesIO()
    writer.write(buf)
    assert sanitize(buf.getvalue()).changes == ()


@pytest.mark.parametrize("data", [b"%PDF-1.7 not really", b"%PDF-1.4\n1 0 obj << /Type /Catalog"])
def test_malformed_pdf_is_refused(data: bytes) -> None:
    with pytest.raises(RefusedInput, match="PDF"):
        sanitize(data)
