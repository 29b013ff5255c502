"""Hostile and broken input: every case is a finding, never an exception, never unbounded memory."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.core.config import Config
from modelseal.core.findings import Severity
from modelseal.core.limits import Limits
from tests.scanners.craft import call0, global0


def rules_of(path: Path, config: Config | None = None) -> set[str]:
    return {f.rule_id for f in scan([path], config).findings}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_truncated_pickle_is_malformed(tmp_path: Path) -> None:
    data = pickle.dumps({"a": list(range(100))}, protocol=4)
    assert "MS-PICKLE-MALFORMED" in rules_of(write(tmp_path, "t.pkl", data[: len(data) // 2]))


def test_garbage_is_unknown_format(tmp_path: Path) -> None:
    result = scan([write(tmp_path, "weights.bin", os.urandom(4096).replace(b"\x80", b"\x81"))])
    assert {f.rule_id for f in result.findings} & {"MS-FORMAT-UNKNOWN", "MS-PICKLE-MALFORMED"}
    assert result.max_severity() is not None and result.max_severity() >= Severity.MEDIUM


def test_unknown_opcode_is_malformed(tmp_path: Path) -> None:
    assert "MS-PICKLE-MALFORMED" in rules_of(write(tmp_path, "x.pkl", b"\x80\x04\xff."))


def test_deep_mark_nesting_hits_limit(tmp_path: Path) -> None:
    config = Config(limits=Limits(max_pickle_stack=1000))
    data = b"\x80\x02" + b"(" * 5000 + b"."
    assert "MS-LIMIT-EXCEEDED" in rules_of(write(tmp_path, "deep.pkl", data), config)


def test_deeply_nested_containers_do_not_recurse(tmp_path: Path) -> None:
    data = b"\x80\x02" + b"]" * 200_000 + b"a" * 199_999 + b"."
    result = scan([write(tmp_path, "nest.pkl", data)])
    assert result.max_severity() is None or result.max_severity() <= Severity.LOW


def test_huge_memo_index_is_fine_but_memo_count_is_bounded(tmp_path: Path) -> None:
    huge_index = b"\x80\x02K\x01r\xff\xff\xff\xffj\xff\xff\xff\xff."
    assert rules_of(write(tmp_path, "idx.pkl", huge_index)) == set()
    config = Config(limits=Limits(max_pickle_memo=100))
    many = b"\x80\x04" + b"K\x01\x94" * 1000 + b"."
    assert "MS-LIMIT-EXCEEDED" in rules_of(write(tmp_path, "memo.pkl", many), config)


def test_get_of_missing_memo_is_malformed(tmp_path: Path) -> None:
    assert "MS-PICKLE-MALFORMED" in rules_of(write(tmp_path, "get.pkl", b"\x80\x02h\x05."))


@pytest.mark.parametrize("opcode", [b"\x8e", b"\x8d", b"\x96"])
def test_gigantic_declared_length_is_malformed_not_allocated(tmp_path: Path, opcode: bytes) -> None:
    data = b"\x80\x04" + opcode + (1 << 60).to_bytes(8, "little") + b"abc"
    tracemalloc.start()
    found = rules_of(write(tmp_path, "big.pkl", data))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "MS-PICKLE-MALFORMED" in found
    assert peak < 50 << 20


def test_zip_bomb_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.pkl", b"\0" * (8 << 20))
    config = Config(limits=Limits(bomb_min_bytes=1 << 20, max_compression_ratio=100))
    assert "MS-ARCHIVE-BOMB" in rules_of(path, config)


def test_gzip_bomb_stops_streaming(tmp_path: Path) -> None:
    path = write(tmp_path, "bomb.pkl.gz", gzip.compress(b"\x80\x04" + b"N0" * (8 << 20) + b"N."))
    config = Config(limits=Limits(bomb_min_bytes=1 << 20, max_compression_ratio=100))
    assert "MS-ARCHIVE-BOMB" in rules_of(path, config)


def test_decompressed_budget(tmp_path: Path) -> None:
    path = write(tmp_path, "big.pkl.gz", gzip.compress(pickle.dumps(os.urandom(1 << 20), protocol=4)))
    config = Config(limits=Limits(max_decompressed_bytes=1 << 16))
    assert "MS-LIMIT-EXCEEDED" in rules_of(path, config)


def test_nesting_depth_limit(tmp_path: Path) -> None:
    data = pickle.dumps({}, protocol=2)
    for _ in range(12):
        data = gzip.compress(data)
    assert "MS-LIMIT-EXCEEDED" in rules_of(write(tmp_path, "onion.gz", data))


def test_symlink_out_of_folder(tmp_path: Path) -> None:
    outside = write(tmp_path, "secret.txt", b"secret")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "weights.bin").symlink_to(outside)
    result = scan([model])
    assert "MS-FILE-LINK-ESCAPE" in {f.rule_id for f in result.findings}
    assert [f.path for f in result.targets[0].files] == ["config.json"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "locked.pkl", pickle.dumps(1))
    path.chmod(0)
    assert "MS-FILE-UNREADABLE" in rules_of(tmp_path)


def test_unreadable_file_through_open_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "locked.pkl", pickle.dumps(1))
    real_open = open

    def deny(file: object, *args: object, **kwargs: object) -> object:
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", deny)
    assert "MS-FILE-UNREADABLE" in rules_of(path)


def test_scan_continues_after_bad_files(tmp_path: Path) -> None:
    write(tmp_path, "a_bad.pkl", b"\x80\x04\xff")
    write(tmp_path, "b_evil.pkl", b"\x80\x02" + global0("os", "system") + b"X\x01\x00\x00\x00x\x85R.")
    write(tmp_path, "c_good.pkl", pickle.dumps([1, 2, 3]))
    result = scan([tmp_path])
    by_file = {r.path: {f.rule_id for f in r.findings} for r in result.targets[0].files}
    assert by_file == {
        "a_bad.pkl": {"MS-PICKLE-MALFORMED"},
        "b_evil.pkl": {"MS-PICKLE-DANGEROUS-CALLABLE"},
        "c_good.pkl": set(),
    }


def test_legacy_torch_storage_data_is_not_trailing_garbage(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.randn(64, 64)}, path, _use_new_zipfile_serialization=False)
    result = scan([path])
    assert result.targets[0].files[0].format == "pytorch-legacy"
    assert result.findings == ()


def test_trailing_garbage_after_pickle_is_low(tmp_path: Path) -> None:
    result = scan([write(tmp_path, "t.pkl", pickle.dumps([1]) + b"\x00\x01garbage")])
    assert {f.rule_id for f in result.findings} == {"MS-PICKLE-TRAILING-DATA"}
    assert result.max_severity() == Severity.LOW


@pytest.mark.parametrize(
    "text",
    [
        b"torch==2.3.1\nnumpy>=1.24\n",
        b"Pillow\ntransformers\n",
        b"cfg\nvalue\nmore text\n" * 40,
        b"Version 1.0\n",
    ],
)
def test_text_that_starts_like_opcodes_is_not_a_pickle(tmp_path: Path, text: bytes) -> None:
    result = scan([write(tmp_path, "requirements.txt", text)])
    assert result.targets[0].files[0].format == "text"
    assert not [f for f in result.findings if f.rule_id.startswith("MS-PICKLE") or f.severity > Severity.LOW]


def test_truncated_protocol0_pickle_naming_a_callable_is_still_a_pickle(tmp_path: Path) -> None:
    result = scan([write(tmp_path, "m.txt", b"cos\nsystem\n(S'true'\ntR")])
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in {f.rule_id for f in result.findings}


def _many_members(count: int, compression: int = zipfile.ZIP_STORED, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for i in range(count):
            info = zipfile.ZipInfo(f"m{i}", date_time=(2024, 1, 1, 0, 0, 0))
            info.comment = comment
            info.compress_type = compression
            zf.writestr(info, b"x")
        zf.writestr("last.pkl", call0("os", "system", "true"))
    return buf.getvalue()


@pytest.mark.parametrize(
    "compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"]
)
def test_a_directory_past_the_member_limit_is_never_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: int
) -> None:
    """zipfile makes an object per entry of the whole directory before anything can count them (a 135 MB
    zip of 1.5 M empty members took 779 MB): past the limit, the entries are read one by one up to it."""
    path = write(tmp_path, "many.zip", _many_members(3000, compression))

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("zipfile was asked to read a directory past the member limit")

    monkeypatch.setattr(zipfile.ZipFile, "__init__", refused)
    result = scan([path], Config(limits=Limits(max_members=1000)))
    limits = [f for f in result.findings if f.rule_id == "MS-LIMIT-EXCEEDED"]
    assert [f.message for f in limits] == ["more than 1000 members; only the first 1000 were analysed"]


def test_a_directory_of_more_bytes_than_its_members_need_is_never_read_whole(tmp_path: Path) -> None:
    """A few entries with long comments: zipfile would read the whole directory into memory."""
    path = write(tmp_path, "long.zip", _many_members(3, comment=b"c" * 3000))
    result = scan([path], Config(limits=Limits(max_members=4)))
    messages = [f.message for f in result.findings if f.rule_id == "MS-LIMIT-EXCEEDED"]
    assert len(messages) == 1 and "over the 4096 allowed for 4 members" in messages[0]
    # what the readers that stop at the limit read is still scanned
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in {f.rule_id for f in result.findings}
