"""Audio: resample to the model's rate and band-limit, so energy outside the speech band is gone.

Ultrasonic carriers (commands modulated above 20 kHz that a microphone's non-linearity demodulates, or
that a model sampled at 44.1 kHz hears and people do not) live outside the band a speech model needs.
Resampling with an anti-aliasing filter and a band-pass (scipy.signal) remove them; the energy removed
above the band is measured and reported. The WAV is re-written as 16-bit PCM, so RIFF metadata chunks
(``LIST``/``INFO``, ``id3``, ``bext``...) are dropped and named. FLAC is decoded (extra ``media``) and
written as WAV the same way, its metadata blocks (tags, pictures, application data) named.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelseal.defense.errors import RefusedInput
from modelseal.defense.sanitize.interface import Change, Sanitized

if TYPE_CHECKING:
    import numpy as np

MAX_AUDIO_BYTES = 64 << 20
MAX_SECONDS = 600.0
AUDIO_CHUNKS = {b"fmt ", b"data", b"fact"}
"""RIFF chunks a PCM or float WAV needs; every other chunk is metadata and is dropped."""


@dataclass(frozen=True)
class AudioOptions:
    rate: int = 16_000
    """Sample rate written (the model's)."""
    low_hz: float = 50.0
    high_hz: float = 7_600.0
    """Pass band kept: speech; raise ``high_hz`` (below ``rate / 2``) for music models."""
    max_bytes: int = MAX_AUDIO_BYTES
    max_seconds: float = MAX_SECONDS
    report_energy: float = 0.001
    """Share of the signal's energy above the band from which its removal is reported."""


def wav_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, offset of payload, size) of each RIFF chunk; refuses a truncated or inconsistent file."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RefusedInput("not a RIFF/WAVE file")
    chunks = []
    pos = 12
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if pos + 8 + size > len(data):
            raise RefusedInput(
                f"truncated WAV: chunk {kind!r} declares {size} bytes, {len(data) - pos - 8} remain"
            )
        chunks.append((kind, pos + 8, size))
        pos += 8 + size + (size & 1)
    if not any(c[0] == b"data" for c in chunks) or not any(c[0] == b"fmt " for c in chunks):
        raise RefusedInput("WAV without a fmt or data chunk")
    return chunks


def _energy_above(signal: np.ndarray, rate: int, cutoff: float) -> float:
    """Share of the signal's energy above ``cutoff`` Hz (Welch periodogram, all channels)."""
    import numpy as np
    from scipy.signal import welch

    freqs, power = welch(signal, fs=rate, axis=0, nperseg=min(4096, len(signal)))
    total = float(np.sum(power))
    return float(np.sum(power[freqs > cutoff])) / total if total > 0 else 0.0


def band_limit(signal: np.ndarray, rate: int, opts: AudioOptions) -> np.ndarray:
    """Resample ``(samples, channels)`` float audio to ``opts.rate`` and keep only the pass band."""
    from math import gcd

    import numpy as np
    from scipy.signal import butter, resample_poly, sosfiltfilt

    if rate != opts.rate:
        g = gcd(rate, opts.rate)
        signal = resample_poly(signal, opts.rate // g, rate // g, axis=0)
    high = min(opts.high_hz, 0.45 * opts.rate)
    sos = butter(8, [opts.low_hz, high], btype="bandpass", fs=opts.rate, output="sos")
    if len(signal) <= 3 * 2 * len(sos):  # too short to filter forwards and back: silence is the safe answer
        return np.zeros_like(signal)
    return sosfiltfilt(sos, signal, axis=0)  # type: ignore[no-any-return]


FLAC_BLOCKS = {0: "STREAMINFO", 1: "PADDING", 2: "APPLICATION", 3: "SEEKTABLE", 4: "VORBIS_COMMENT",
               5: "CUESHEET", 6: "PICTURE"}  # fmt: skip
FLAC_AUDIO_BLOCKS = {0, 1, 3}
"""Metadata blocks that only describe the stream; every other one is metadata and is dropped."""


def flac_blocks(data: bytes) -> list[tuple[str, int]]:
    """(name, size) of each metadata block of a FLAC stream that is not needed to describe the audio;
    refuses a truncated header."""
    dropped: list[tuple[str, int]] = []
    pos, last = 4, False
    while not last:
        if pos + 4 > len(data):
            raise RefusedInput("truncated FLAC: the metadata blocks end early")
        last, kind = bool(data[pos] & 0x80), data[pos] & 0x7F
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        if pos + 4 + size > len(data):
            raise RefusedInput(f"truncated FLAC: a metadata block declares {size} bytes")
        if kind not in FLAC_AUDIO_BLOCKS:
            dropped.append((FLAC_BLOCKS.get(kind, f"type {kind}"), size))
        pos += 4 + size
    return dropped


def _read_wav(data: bytes) -> tuple[int, np.ndarray, list[Change]]:
    from scipy.io import wavfile

    chunks = wav_chunks(data)
    changes = [Change("wav-metadata", f"{kind.decode('latin-1').strip()} chunk, {size} bytes")
               for kind, _, size in chunks if kind not in AUDIO_CHUNKS]  # fmt: skip
    try:
        rate, samples = wavfile.read(io.BytesIO(data))
    except (ValueError, EOFError, struct.error) as exc:
        raise RefusedInput(f"malformed WAV: {exc}") from None
    return rate, samples, changes


def _read_flac(data: bytes, opts: AudioOptions) -> tuple[int, np.ndarray, list[Change]]:
    """Decode a FLAC stream with libsndfile (extra ``media``); its metadata blocks are named, and the
    cleaned audio is written as WAV like any other, so nothing of the FLAC container survives."""
    from modelseal.core.extras import require

    require("media", "soundfile", feature="FLAC audio")
    import soundfile

    changes = [Change("flac-metadata", f"{name} block, {size} bytes") for name, size in flac_blocks(data)]
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as sf:
            seconds = sf.frames / max(sf.samplerate, 1)
            if seconds > opts.max_seconds:
                raise RefusedInput(f"audio of {seconds:.0f} s exceeds the limit of {opts.max_seconds:.0f} s")
            samples = sf.read(dtype="float64", always_2d=True)
            rate = int(sf.samplerate)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise RefusedInput(f"malformed FLAC: {exc}") from None
    return rate, samples, [*changes, Change("re-encoded", "FLAC decoded and written as WAV")]


def sanitize_audio(data: bytes, options: AudioOptions | None = None) -> Sanitized:
    """Clean a WAV or FLAC: drop metadata, resample, band-limit; write 16-bit PCM WAV."""
    import numpy as np
    from scipy.io import wavfile

    opts = options or AudioOptions()
    if len(data) > opts.max_bytes:
        raise RefusedInput(f"audio of {len(data)} bytes exceeds the limit of {opts.max_bytes}")
    rate, samples, changes = _read_flac(data, opts) if data[:4] == b"fLaC" else _read_wav(data)
    if rate <= 0 or len(samples) == 0:
        raise RefusedInput("audio without samples or with a zero sample rate")
    if len(samples) / rate > opts.max_seconds:
        raise RefusedInput(
            f"audio of {len(samples) / rate:.0f} s exceeds the limit of {opts.max_seconds:.0f} s"
        )
    signal = samples.astype(np.float64)
    if np.issubdtype(samples.dtype, np.integer):
        signal /= float(np.iinfo(samples.dtype).max)
    if signal.ndim == 1:
        signal = signal[:, None]
    if not np.isfinite(signal).all():
        raise RefusedInput("audio holds NaN or infinite samples")
    high = min(opts.high_hz, 0.45 * opts.rate)
    above = _energy_above(signal, rate, high)
    if above >= opts.report_energy:
        changes.append(Change("out-of-band", f"{above:.1%} of the energy lay above {high:.0f} Hz"))
    if rate != opts.rate:
        changes.append(Change("resampled", f"{rate} Hz -> {opts.rate} Hz"))
    clean = band_limit(signal, rate, opts)
    pcm = (np.clip(clean, -1.0, 1.0) * 32767).round().astype(np.int16)
    buf = io.BytesIO()
    wavfile.write(buf, opts.rate, pcm[:, 0] if pcm.shape[1] == 1 else pcm)
    return Sanitized("audio", "WAV", buf.getvalue(), tuple(changes))
