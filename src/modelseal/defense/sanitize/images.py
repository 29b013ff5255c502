"""Images: decode within limits, apply the EXIF orientation, copy the pixels into a fresh image, re-encode.

A naive re-save keeps some metadata (Pillow carries ``icc_profile``, ``exif`` and PNG text chunks through
``save`` when asked, and some writers copy them by default); copying the decoded pixels into a new image
leaves nothing but pixels, so EXIF, XMP, ICC profiles, comments and bytes appended after the image's end
are all gone. What was there is reported, found by walking the container (JPEG segments, PNG chunks,
the WebP RIFF header), never by trusting the decoder alone.

Pixel triggers survive that; :func:`squeeze` offers the feature-squeezing defences (bit depth, median
filter, JPEG re-compression) whose cost in clean accuracy the tests and docs measure.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelseal.defense.errors import RefusedInput
from modelseal.defense.sanitize.interface import Change, Sanitized

if TYPE_CHECKING:
    import numpy as np

MAX_IMAGE_BYTES = 32 << 20
MAX_PIXELS = 40_000_000
"""Largest declared width x height decoded (a decompression bomb declares far more than it stores)."""
FORMATS = ("JPEG", "PNG", "WEBP")
"""The formats accepted: what image-serving APIs take. Anything else is refused."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_METADATA = {b"tEXt": "png-text", b"zTXt": "png-text", b"iTXt": "png-text", b"eXIf": "exif",
                b"iCCP": "icc_profile", b"tIME": "png-time", b"pHYs": "png-physical"}  # fmt: skip
JPEG_APP = {0xE1: "exif/xmp", 0xE2: "icc_profile", 0xED: "iptc", 0xFE: "comment"}


@dataclass(frozen=True)
class ImageOptions:
    max_bytes: int = MAX_IMAGE_BYTES
    max_pixels: int = MAX_PIXELS
    jpeg_quality: int = 95
    output_format: str | None = None
    """Container to write; default: the input's."""


def sniff_image(data: bytes) -> str | None:
    """The container by its magic bytes: ``JPEG``, ``PNG``, ``WEBP`` or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _png_parts(data: bytes) -> tuple[list[Change], int]:
    found: list[Change] = []
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind in PNG_METADATA:
            found.append(Change(PNG_METADATA[kind], f"{kind.decode('latin-1')} chunk, {length} bytes"))
        pos += 12 + length
        if kind == b"IEND":
            return found, pos
    return found, len(data)


def _jpeg_parts(data: bytes) -> tuple[list[Change], int]:
    found: list[Change] = []
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return found, len(data)
        marker = data[pos + 1]
        if marker == 0xD9:
            return found, pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in JPEG_APP:
            what = JPEG_APP[marker]
            if marker == 0xE1:
                what = "xmp" if data[pos + 4 : pos + 33].startswith(b"http://ns.adobe.com/xap") else "exif"
            found.append(Change(what, f"APP{marker - 0xE0} segment, {length} bytes"
                                if marker != 0xFE else f"COM segment, {length} bytes"))  # fmt: skip
        pos += 2 + length
        if marker == 0xDA:  # entropy-coded data: the next marker is 0xFF not followed by 0x00 or a restart
            while pos + 1 < len(data):
                if data[pos] == 0xFF and data[pos + 1] != 0 and not 0xD0 <= data[pos + 1] <= 0xD7:
                    break
                pos += 1
    return found, len(data)


def _webp_parts(data: bytes) -> tuple[list[Change], int]:
    found: list[Change] = []
    end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    pos = 12
    while pos + 8 <= end:
        kind, length = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        names = {b"EXIF": "exif", b"XMP ": "xmp", b"ICCP": "icc_profile"}
        if kind in names:
            found.append(Change(names[kind], f"{kind.decode('latin-1').strip()} chunk, {length} bytes"))
        pos += 8 + length + (length & 1)
    return found, end


def metadata_parts(data: bytes, fmt: str) -> list[Change]:
    """What besides pixels the container holds, including bytes after its declared end."""
    walk = {"PNG": _png_parts, "JPEG": _jpeg_parts, "WEBP": _webp_parts}[fmt]
    try:
        found, end = walk(data)
    except struct.error:
        raise RefusedInput(f"malformed {fmt}: a segment header is cut off") from None
    if end < len(data):
        found.append(Change("appended-bytes", f"{len(data) - end} bytes after the end of the {fmt} data"))
    return found


def sanitize_image(data: bytes, options: ImageOptions | None = None) -> Sanitized:
    """Re-encode an image from its pixels only; refuse what is malformed, truncated or too large."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    opts = options or ImageOptions()
    if len(data) > opts.max_bytes:
        raise RefusedInput(f"image of {len(data)} bytes exceeds the limit of {opts.max_bytes}")
    fmt = sniff_image(data)
    if fmt is None:
        raise RefusedInput(f"not an image of an accepted format ({', '.join(FORMATS)})")
    changes = metadata_parts(data, fmt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = img.size
            if width * height > opts.max_pixels:
                raise RefusedInput(
                    f"decompression bomb: {width}x{height} pixels declared, limit {opts.max_pixels}"
                )
            img.load()
            frames = int(getattr(img, "n_frames", 1))
            if frames > 1:
                changes.append(Change("extra-frames", f"{frames - 1} frames after the first dropped"))
            oriented = ImageOps.exif_transpose(img)
    except RefusedInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RefusedInput(f"decompression bomb: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise RefusedInput(f"malformed or truncated {fmt}: {exc}") from None
    orientation = img.getexif().get(0x0112, 1)
    if orientation not in (1, None):
        changes.append(Change("orientation", f"EXIF orientation {orientation} applied to the pixels"))
    mode = oriented.mode
    if mode not in ("L", "RGB", "RGBA"):
        mode = "RGBA" if "A" in mode or "transparency" in oriented.info else "RGB"
        oriented = oriented.convert(mode)
    fresh = Image.frombytes(mode, oriented.size, oriented.tobytes())
    out_fmt = opts.output_format or fmt
    if out_fmt == "JPEG" and mode == "RGBA":
        fresh = fresh.convert("RGB")
    buf = io.BytesIO()
    save_args = {"quality": opts.jpeg_quality} if out_fmt in ("JPEG", "WEBP") else {}
    fresh.save(buf, format=out_fmt, **save_args)
    return Sanitized("image", out_fmt, buf.getvalue(), tuple(changes))


def squeeze(
    x: np.ndarray, method: str, *, bits: int = 3, size: int = 3, quality: int = 50, border: str = "constant"
) -> np.ndarray:
    """Feature squeezing of a float batch ``(N, C, H, W)`` in [0, 1]: ``bits`` (bit-depth reduction),
    ``median`` (median filter over ``size`` x ``size`` pixels; ``border`` is scipy's edge mode: ``constant``
    pads with zeros, so a patch in a corner is outvoted) or ``jpeg`` (re-compression at ``quality``).
    Each removes small, high-contrast pixel patterns at some cost in clean accuracy."""
    import numpy as np

    x = np.asarray(x, dtype=np.float32)
    if method == "bits":
        levels = 2**bits - 1
        return np.round(np.clip(x, 0, 1) * levels) / levels  # type: ignore[no-any-return]
    if method == "median":
        from scipy.ndimage import median_filter

        return median_filter(x, size=(1, 1, size, size), mode=border)  # type: ignore[no-any-return]
    if method == "jpeg":
        from PIL import Image

        out = np.empty_like(x)
        for i, item in enumerate(np.clip(x, 0, 1)):
            pixels = (item.transpose(1, 2, 0) * 255).round().astype(np.uint8)
            img = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=quality)
            back = np.asarray(Image.open(buf), dtype=np.float32) / 255.0
            out[i] = back[None] if back.ndim == 2 else back.transpose(2, 0, 1)
        return out
    raise ValueError(f"unknown squeezing method {method!r} (bits, median or jpeg)")
