"""Sanitisers on a corpus built here: every carrier goes, every removal is reported, bad input is refused."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest

from modelseal.defense.errors import RefusedInput
from modelseal.defense.sanitize import sanitize
from modelseal.defense.sanitize.audio import _energy_above, sanitize_audio
from modelseal.defense.sanitize.images import ImageOptions, metadata_parts, sanitize_image
from modelseal.defense.sanitize.text import TextOptions, sanitize_text

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("scipy")

XMP = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>trigger</x:xmpmeta>"


def _exif(orientation: int = 6) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = "hidden description"
    return bytes(exif.tobytes())


def _image(fmt: str, **extra: object) -> bytes:
    img = Image.new("RGB", (24, 12), (200, 10, 10))
    img.putpixel((0, 0), (0, 255, 0))
    buf = io.BytesIO()
    img.save(buf, format=fmt, **extra)
    return buf.getvalue()


def _jpeg_with_xmp() -> bytes:
    data = _image("JPEG", exif=_exif(), icc_profile=b"\x00" * 128, comment=b"payload comment")
    segment = b"\xff\xe1" + struct.pack(">H", len(XMP) + 2) + XMP
    return data[:2] + segment + data[2:] + b"APPENDED-PAYLOAD"


def _png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "hidden")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta/>")
    return _image("PNG", pnginfo=info, icc_profile=b"\x00" * 64, exif=_exif(3)) + b"zipdata"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_jpeg_with_xmp(), {"exif", "xmp", "icc_profile", "comment", "appended-bytes", "orientation"}),
        (_png_with_text(), {"png-text", "icc_profile", "exif", "appended-bytes", "orientation"}),
        (
            _image("WEBP", exif=_exif(1), icc_profile=b"\x00" * 64) + b"tail",
            {"exif", "icc_profile", "appended-bytes"},
        ),
    ],
    ids=["jpeg", "png", "webp"],
)
def test_image_metadata_is_gone_and_reported(data: bytes, expected: set[str]) -> None:
    out = sanitize(data)
    assert out.kind == "image"
    assert {c.what for c in out.changes} == expected
    again = Image.open(io.BytesIO(out.data))
    assert not again.getexif()
    assert not {"icc_profile", "exif", "xmp", "comment", "Comment"} & set(again.info)
    assert metadata_parts(out.data, out.format) == []  # nothing left, not even appended bytes
    assert sanitize(out.data).changes == ()  # a clean image stays as it is


def test_naive_resave_would_keep_metadata() -> None:
    """The reason for copying pixels: Pillow carries the ICC profile and EXIF through a plain re-save."""
    img = Image.open(io.BytesIO(_jpeg_with_xmp()))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", icc_profile=img.info.get("icc_profile"), exif=img.info.get("exif"))
    assert {c.what for c in metadata_parts(buf.getvalue(), "JPEG")} >= {"exif", "icc_profile"}


def test_exif_orientation_is_applied_to_the_pixels() -> None:
    out = sanitize_image(_jpeg_with_xmp())
    assert Image.open(io.BytesIO(out.data)).size == (12, 24)  # orientation 6: rotated a quarter turn


def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = _image("PNG")
    # Declare 100,000 x 100,000 pixels in IHDR (with a valid CRC); the pixel data stays tiny.
    ihdr = b"IHDR" + struct.pack(">II", 100_000, 100_000) + data[24:29]
    bomb = data[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]
    with pytest.raises(RefusedInput, match="decompression bomb"):
        sanitize_image(bomb)
    with pytest.raises(RefusedInput, match="decompression bomb"):
        sanitize_image(_image("PNG"), ImageOptions(max_pixels=100))


@pytest.mark.parametrize("cut", [40, 200])
def test_truncated_or_malformed_images_are_refused(cut: int) -> None:
    with pytest.raises(RefusedInput):
        sanitize_image(_image("JPEG")[:cut])
    with pytest.raises(RefusedInput, match="accepted format"):
        sanitize_image(b"not an image")


HIDDEN = {
    "invisible": "\u200b\u2060\u00ad\ufeff",
    "bidi-control": "\u202e\u2066\u2069\u200f",
    "tag-character": "\U000e0069\U000e0067\U000e006e",
    "variation-selector": "\ufe0f\U000e0100",
    "control": "\x07\x1b",
}


def test_text_every_hidden_class_removed_and_reported() -> None:
    text = "pay " + "".join(HIDDEN.values()) + "now ﬁle ｐａｙ pаypal Привет мир"
    out = sanitize_text(text)
    cleaned = out.data.decode()
    assert cleaned == "pay now file pay paypal Привет мир"
    by_kind = {c.what: c for c in out.changes}
    for kind, chars in HIDDEN.items():
        assert by_kind[kind].count == len(chars), kind
        for ch in chars:
            assert f"U+{ord(ch):04X}" in by_kind[kind].detail
    assert "U+0430" in by_kind["confusable"].detail  # Cyrillic a inside a Latin word
    assert "U+FB01" in by_kind["normalized"].detail


def test_text_confusables_modes() -> None:
    assert sanitize_text("Привет", TextOptions(fold_confusables="all")).data.decode() != "Привет"
    assert sanitize_text("pаypal", TextOptions(fold_confusables="none")).data.decode() == "pаypal"


def test_text_bad_input_refused() -> None:
    with pytest.raises(RefusedInput, match="invalid UTF-8 at byte 2"):
        sanitize_text(b"ok\xff")
    with pytest.raises(RefusedInput, match="surrogate"):
        sanitize_text("a\ud800b")
    with pytest.raises(RefusedInput, match="limit"):
        sanitize_text(b"x" * 100, TextOptions(max_bytes=10))


def _wav(rate: int, tones: list[float], extra_chunk: bytes = b"") -> bytes:
    from scipy.io import wavfile

    t = np.arange(rate) / rate
    sig = sum(0.3 * np.sin(2 * np.pi * f * t) for f in tones)
    buf = io.BytesIO()
    wavfile.write(buf, rate, (np.asarray(sig) * 32767).astype(np.int16))
    data = buf.getvalue() + extra_chunk
    return data[:4] + struct.pack("<I", len(data) - 8) + data[8:]


def test_audio_ultrasonic_tone_removed_speech_kept() -> None:
    from scipy.io import wavfile

    info = b"LIST" + struct.pack("<I", 12) + b"INFOICMT\x00\x00\x00\x00"
    out = sanitize(_wav(48_000, [440.0, 21_000.0], info))
    kinds = {c.what for c in out.changes}
    assert kinds == {"wav-metadata", "out-of-band", "resampled"}
    rate, samples = wavfile.read(io.BytesIO(out.data))
    assert rate == 16_000
    signal = samples.astype(float)[:, None] / 32767
    assert _energy_above(signal, rate, 7_600) < 1e-6
    assert np.sqrt(np.mean(signal[2000:-2000] ** 2)) > 0.15  # the 440 Hz tone (RMS 0.21) is still there
    assert b"LIST" not in out.data


def test_audio_truncated_refused() -> None:
    data = _wav(16_000, [440.0])
    with pytest.raises(RefusedInput, match="truncated"):
        sanitize_audio(data[:-100])
    with pytest.raises(RefusedInput, match="RIFF"):
        sanitize_audio(b"RIFX" + data[4:])


@pytest.mark.parametrize("magic", [b"fLaC\x00\x00", b"%PDF-1.7", b"GIF89a", b"II*\x00", b"\x00\x01binary"])
def test_unsupported_kinds_are_refused(magic: bytes) -> None:
    with pytest.raises(RefusedInput):
        sanitize(magic + b"rest")
