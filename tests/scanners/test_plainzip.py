"""The plain-archive reader (``_plainzip.c``) against the zip scanner's reference path (``zipfile`` and
``member_spans``): where it lists members they are exactly the ones the reference reads, with nothing
wrong found about them, and the scanner reports the same findings either way, on archives saved by the
real libraries and on thousands of mutations of them."""

from __future__ import annotations

import io
import random
import re
import struct
import sys
import tempfile
import types
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from modelseal.core.limits import Limits
from modelseal.scanners import plainzip
from modelseal.scanners.native import built
from tests.scanners.craft import call0, mark_encrypted, torch_zip, with_local_name, zip_bytes
from tests.scanners.native import compiler_here
from tests.scanners.zipcompare import compare, findings, mutations, reference, sources

compiled = pytest.mark.skipif(plainzip.COMPILED is None, reason="the plain-zip reader is not built here")


def test_the_reader_is_built_where_a_compiler_is() -> None:
    """``pip install`` builds the extension as optional: a broken build would fall back in silence."""
    if not compiler_here():
        pytest.skip("no C compiler or Python headers here: archives are read through zipfile")
    assert plainzip.COMPILED is not None


def test_the_revision_expected_is_the_source_beside_it() -> None:
    """Every change to ``_plainzip.c`` bumps its REVISION and ``plainzip._REVISION`` with it."""
    source = (Path(plainzip.__file__).parent / "_plainzip.c").read_text(encoding="utf-8")
    defined = re.search(r"^#define REVISION (\d+)$", source, re.MULTILINE)
    assert defined is not None and int(defined.group(1)) == plainzip._REVISION
    if plainzip.COMPILED is not None:
        assert plainzip.COMPILED.REVISION == plainzip._REVISION


def test_a_module_built_from_another_revision_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    stale = types.ModuleType("modelseal.scanners._plainzip")
    stale.REVISION = plainzip._REVISION - 1  # type: ignore[attr-defined]
    stale.__file__ = "/stale/_plainzip.so"
    monkeypatch.setitem(sys.modules, "modelseal.scanners._plainzip", stale)
    with pytest.warns(RuntimeWarning, match="another revision.*Read through zipfile"):
        assert built("modelseal.scanners._plainzip", plainzip._REVISION, "Read through zipfile.") is None
    stale.REVISION = plainzip._REVISION  # type: ignore[attr-defined]
    assert built("modelseal.scanners._plainzip", plainzip._REVISION, "") is stale


def _checkpoint(tmp_path: Path, tensors: int = 3) -> Path:
    path = tmp_path / "model.pt"
    torch.save({f"layer{i}.weight": torch.full((4,), float(i)) for i in range(tensors)}, path)
    return path


@compiled
def test_a_torch_checkpoint_is_plain_from_disk_and_from_memory(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path, 40)
    with open(path, "rb") as f:
        listed = plainzip.members(f, Limits().max_members)
        assert listed is not None and listed == reference(f)
    assert plainzip.members(io.BytesIO(path.read_bytes()), Limits().max_members) == listed
    assert len([m for m in listed if "/data/" in m[0]]) == 40 and listed[0][0] == "model/data.pkl"
    assert compare(path.read_bytes())


@compiled
@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
@pytest.mark.parametrize(
    ("save", "plain"),
    [
        (lambda p: np.savez(p, a=np.arange(5), b=np.ones((2, 2))), True),
        (lambda p: np.savez_compressed(p, a=np.arange(5)), False),
        (lambda p: p.write_bytes(zip_bytes({"a.txt": b"hello", "dir/": b"", "b.bin": b"\x00" * 300})), True),
        (lambda p: p.write_bytes(zip_bytes({})), True),
        # TorchScript deflates its code/ members: read through zipfile
        (lambda p: torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), p), False),
    ],
    ids=["numpy-savez", "numpy-savez-compressed", "python-zipfile", "empty", "torchscript"],
)
def test_archives_the_libraries_save(tmp_path: Path, save: object, plain: bool) -> None:
    path = tmp_path / "saved.npz"  # numpy.savez adds the suffix when it is missing
    save(path)  # type: ignore[operator]
    assert compare(path.read_bytes()) is plain


@compiled
def test_a_malicious_member_is_found_either_way() -> None:
    data = torch_zip(call0("os", "system", "true"))
    assert compare(data)
    assert any(rule == "MS-PICKLE-DANGEROUS-CALLABLE" for rule, *_ in findings(data, True))


def _prepended(data: bytes) -> bytes:
    return b"#!junk\n" + data


def _with_central(data: bytes, offset: int, value: bytes) -> bytes:
    """``value`` written at ``offset`` into the first central directory entry."""
    at = data.index(b"PK\x01\x02") + offset
    return data[:at] + value + data[at + len(value) :]


_STORED = {"archive/data.pkl": b"\x80\x02K\x01.", "archive/data/0": b"\x00" * 16}


def _into_directory() -> bytes:
    """One stored member whose declared data (20 bytes) runs on into the central directory after its
    first 10: zipfile refuses to read it from Python 3.12, earlier versions read the directory's bytes."""
    name, data = b"archive/data.pkl", b"\x80\x02K\x01." + b"\x00" * 15
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, zlib.crc32(data), 20, 20, len(name), 0
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        20,
        20,
        0,
        0,
        0,
        0,
        zlib.crc32(data),
        20,
        20,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + name + data[:10]
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), len(body), 0)
    return body + central + name + end


def _counted(data: bytes, delta: int) -> bytes:
    """The end record's member counts moved by ``delta``: zipfile reads every entry in the directory,
    torch's miniz as many as the end record counts."""
    at = data.rindex(b"PK\x05\x06")
    count = struct.unpack_from("<H", data, at + 10)[0] + delta
    return data[: at + 8] + struct.pack("<HH", count, count) + data[at + 12 :]


def _with_extra(extra: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("archive/data.pkl")
        info.extra = extra
        zf.writestr(info, b"\x80\x02K\x01.")
    return buf.getvalue()


@compiled
@pytest.mark.parametrize(
    "craft",
    [
        lambda: _prepended(zip_bytes(_STORED)),
        lambda: with_local_name(zip_bytes(_STORED), b"archive/data.pkl", b"archive/data.pkX"),
        lambda: mark_encrypted(zip_bytes(_STORED)),
        lambda: zip_bytes(_STORED, zipfile.ZIP_DEFLATED),
        lambda: zip_bytes({"archive/data.pkl\u00e9": b"\x80\x02K\x01."}),
        lambda: zip_bytes({"archive\\data.pkl": b"\x80\x02K\x01."}),
        lambda: _with_central(zip_bytes(_STORED), 6, b"\x40"),  # needs version 6.4
        lambda: _with_central(zip_bytes(_STORED), 42, struct.pack("<I", 7)),  # points into a member
        lambda: zip_bytes(_STORED)[:-30],
        lambda: _counted(zip_bytes(_STORED), -1),
        lambda: _counted(zip_bytes({f"{'long/' * 20}{i}": b"x" for i in range(2)}), 1),
        _into_directory,
        lambda: _with_extra(b"\x99\x99\x05\x00ab"),  # a corrupt extra field: zipfile cannot open it
        lambda: _with_extra(b"\x99\x99\x02\x00ab"),  # a sound one
    ],
    ids=[
        "prepended",
        "local-name",
        "encrypted",
        "deflated",
        "non-ascii-name",
        "backslash-name",
        "version-needed",
        "bad-header-offset",
        "truncated",
        "fewer-counted",
        "more-counted",
        "data-into-directory",
        "corrupt-extra",
        "extra",
    ],
)
def test_archives_not_plain_are_read_the_reference_way(craft: object) -> None:
    data = craft()  # type: ignore[operator]
    assert plainzip.members(io.BytesIO(data), Limits().max_members) is None
    assert not compare(data)


@compiled
def test_duplicate_names_are_plain_and_reported() -> None:
    buf = io.BytesIO()
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02K\x01.")
        zf.writestr("archive/data.pkl", call0("os", "system", "true"))
    assert compare(buf.getvalue())
    rules = [rule for rule, *_ in findings(buf.getvalue(), True)]
    assert "MS-ZIP-DUPLICATE-NAME" in rules and "MS-PICKLE-DANGEROUS-CALLABLE" in rules


@compiled
def test_more_members_than_the_limit_are_read_the_reference_way() -> None:
    data = zip_bytes({f"m{i}": b"x" for i in range(5)})
    limits = Limits(max_members=3)
    assert plainzip.members(io.BytesIO(data), limits.max_members) is None
    assert not compare(data, limits)
    assert any(rule == "MS-LIMIT-EXCEEDED" for rule, *_ in findings(data, True, limits))


@compiled
@pytest.mark.parametrize("seed", range(4))
def test_mutated_archives_give_the_same_members_andfindings(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    plain = 0
    total = 0
    for data in sources(_checkpoint(tmp_path).read_bytes()):
        for mutated in mutations(data, rng, 150):
            plain += compare(mutated)
            total += 1
    # both kinds were compared: mutations the reader still takes as plain (a changed time, a data byte)
    # and ones it leaves to the reference
    assert 0 < plain < total


@compiled
def test_a_nested_archive_is_read_in_place_not_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored member that is itself a zip is scanned through a window on the outer file (as zipfile's
    member file is seekable), not spooled to a temporary copy first."""
    inner = zip_bytes({"inner/data.pkl": call0("os", "system", "true")})
    data = zip_bytes({"outer.txt": b"hello", "nested.zip": inner})
    assert plainzip.members(io.BytesIO(data), Limits().max_members) is not None
    assert compare(data)

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a stored member was copied out to be scanned")

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", refused)
    found = findings(data, True)
    assert [(rule, location) for rule, _, location in found] == [
        ("MS-PICKLE-DANGEROUS-CALLABLE", "Location(member='nested.zip!/inner/data.pkl', offset=0, tensor='')")
    ]
