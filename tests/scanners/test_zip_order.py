"""A zip's tensor storages are scanned before its other members (so the storages' records are let go of
before the pickle is read), yet the findings keep the members' order."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from tests.formats.helpers import findings


def _call(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n(S'echo'\ntR.".encode()


def _object_npy(payload: bytes) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    return out.getvalue() + payload


def test_findings_keep_the_members_order(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", _call("os", "system"))
        zf.writestr("archive/data/0", _object_npy(_call("subprocess", "call")))
        zf.writestr("archive/data/1", b"\0" * 16)
        zf.writestr("archive/extra.pkl", _call("builtins", "exec"))
    where = [f.location.member for f in findings(path) if f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE"]
    assert where, "the dangerous calls were not found"
    order = [w for i, w in enumerate(where) if w not in where[:i]]
    assert order == ["archive/data.pkl", "archive/data/0", "archive/extra.pkl"], where


def test_a_storage_past_a_long_extra_field_is_still_sniffed(tmp_path: Path) -> None:
    """Storages are sniffed from the bytes read with their local header; one whose extra field is longer than
    that read reaches is read again at its data, and its ``.npy`` pickle is still scanned."""
    from modelseal.scanners.zipspans import member_spans

    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        for name, padding in (("archive/data/0", 4), ("archive/data/1", 600)):
            info = zipfile.ZipInfo(name)
            info.extra = b"\xfe\xca" + padding.to_bytes(2, "little") + b"\0" * padding
            zf.writestr(info, _object_npy(_call("subprocess", "call")))
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        heads = [s.head for s in member_spans(f, zf.infolist())][1:]
    assert heads == [b"\x93NUMPY", None]  # the second head lies past the first read
    where = {f.location.member for f in findings(path) if f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE"}
    assert where == {"archive/data/0", "archive/data/1"}
