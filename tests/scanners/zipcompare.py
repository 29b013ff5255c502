"""The plain-zip reader held to the zip scanner's reference path (``zipfile`` and ``member_spans``) on one
archive, and the mutations to hold it on: shared by ``test_plainzip.py`` and ``bench/fuzz_plainzip.py``."""

from __future__ import annotations

import io
import random
import re
import zipfile
from typing import IO

import pytest

from modelseal.core.limits import Limits
from modelseal.core.streams import ByteSource, FileRaw
from modelseal.scanners import plainzip
from modelseal.scanners import zip as zip_scanner
from modelseal.scanners.interface import ScanContext, ScanInput
from modelseal.scanners.registry import dispatch
from modelseal.scanners.zipspans import HEAD_BYTES, member_spans
from tests.scanners.craft import call0, torch_zip, zip_bytes


def reference(f: IO[bytes]) -> list[plainzip.PlainMember] | None:
    """The members as the reference path reads them, or None when it finds anything wrong with one."""
    try:
        with zipfile.ZipFile(f) as zf:
            infos = zf.infolist()
            spans = member_spans(f, infos)
    except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError):
        return None
    if any(s.problem or not s.in_place for s in spans):
        return None
    out = []
    for span in spans:
        f.seek(span.data)
        out.append((span.info.filename, span.data, span.size, f.read(min(HEAD_BYTES, span.size))))
    return out


def findings(data: bytes, plain: bool, limits: Limits | None = None) -> list[tuple[str, str, str]]:
    """The zip scanner's findings on ``data``, read with the plain reader where it applies or without it."""
    with pytest.MonkeyPatch.context() as patch:
        if not plain:
            patch.setattr(plainzip, "COMPILED", None)
        f = io.BytesIO(data)
        item = ScanInput(ByteSource(FileRaw(f)), "model.zip", len(data), fileobj=f)
        ctx = ScanContext(limits or Limits(), dispatch)
        outcome = zip_scanner.ZipScanner().scan(item, ctx)
    return [(x.rule_id, x.message, str(x.location)) for x in outcome.findings]


def compare(data: bytes, limits: Limits | None = None) -> bool:
    """Both paths agree on ``data``; True when it was read as a plain archive."""
    listed = plainzip.members(io.BytesIO(data), (limits or Limits()).max_members)
    if listed is not None:
        assert listed == reference(io.BytesIO(data))
    assert findings(data, True, limits) == findings(data, False, limits)
    return listed is not None


def sources(checkpoint: bytes) -> list[bytes]:
    """What the mutations start from: a real ``torch.save`` checkpoint (given), a torch layout with a
    malicious pickle and a storage that starts like an ``.npy``, and a zip with a folder and a pickle."""
    return [
        checkpoint,
        torch_zip(call0("os", "system", "true"), {"archive/data/0": b"\x93NUMPY\x01\x00" + b"\x00" * 8}),
        zip_bytes({"a.npy": b"\x93NUMPY" + b"\x00" * 10, "b/": b"", "c.pkl": b"\x80\x02K\x01."}),
    ]


def mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Damaged copies of ``data``: bytes changed in and near its headers (where readers disagree), bytes
    inserted or removed, the end cut off."""
    marks = [m.start() for m in re.finditer(rb"PK(\x01\x02|\x03\x04|\x05\x06|\x06\x06|\x06\x07)", data)]
    out = []
    for _ in range(count):
        raw = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 3))):
            if not raw:  # cut off whole by a step before
                break
            kind = rng.random()
            at = rng.choice(marks) + rng.randrange(48) if marks else rng.randrange(len(raw))
            at = min(at, len(raw) - 1)
            if kind < 0.6:
                raw[at] = rng.choice(
                    (0, 1, 0x7F, 0xFF, raw[at] ^ (1 << rng.randrange(8)), rng.randrange(256))
                )
            elif kind < 0.75:
                raw[at:at] = bytes(rng.randrange(1, 5))
            elif kind < 0.9:
                del raw[at : at + rng.randrange(1, 5)]
            else:
                del raw[rng.randrange(len(raw)) :]
        out.append(bytes(raw))
    return out
