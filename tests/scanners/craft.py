"""Build hostile files for tests. Payloads are harmless (``true``, ``echo``); nothing here is ever loaded."""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import zipfile


class Reduce:
    """An object whose pickle calls ``func(*args)`` on load."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def dumps(obj: object, protocol: int = 4) -> bytes:
    return pickle.dumps(obj, protocol=protocol)


def s8(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def global0(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def call0(module: str, name: str, arg: str) -> bytes:
    """Protocol-0 ``module.name(arg)``."""
    return global0(module, name) + b"(S'" + arg.encode() + b"'\ntR."


def stack_global(module: str, name: str, args: bytes = b")") -> bytes:
    """Protocol 4: names built on the stack, memoised and fetched back before STACK_GLOBAL."""
    return b"\x80\x04" + s8(module) + b"\x94" + s8(name) + b"\x94" + b"h\x00h\x01\x93" + args + b"R."


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def torch_zip(data_pkl: bytes, extra: dict[str, bytes] | None = None, prefix: str = "archive") -> bytes:
    members = {
        f"{prefix}/data.pkl": data_pkl,
        f"{prefix}/byteorder": b"little",
        f"{prefix}/version": b"3\n",
        f"{prefix}/.data/serialization_id": b"1234",
    }
    members.update(extra or {})
    return zip_bytes(members)


def with_local_name(zip_data: bytes, old: bytes, new: bytes) -> bytes:
    """Rewrite one member's name in its local header only (central directory keeps the old one)."""
    i = zip_data.index(b"PK\x03\x04")
    while i >= 0:
        name_len = struct.unpack("<H", zip_data[i + 26 : i + 28])[0]
        if zip_data[i + 30 : i + 30 + name_len] == old and len(new) == len(old):
            return zip_data[: i + 30] + new + zip_data[i + 30 + name_len :]
        i = zip_data.find(b"PK\x03\x04", i + 4)
    raise ValueError("member not found")


def mark_encrypted(zip_data: bytes) -> bytes:
    """Set the 'encrypted' flag in every local and central header."""
    data = bytearray(zip_data)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.find(sig)
        while i >= 0:
            flags = struct.unpack("<H", data[i + off : i + off + 2])[0] | 1
            data[i + off : i + off + 2] = struct.pack("<H", flags)
            i = data.find(sig, i + 4)
    return bytes(data)


HARMLESS = "true"
SYSTEM = (os.system, HARMLESS)


def many_member_zip(count: int, name: str = "m{:07d}") -> bytes:
    """A zip of ``count`` empty stored members (``name`` formatted with each index), written record by
    record: past 65 535 members, with the zip64 end records."""
    local = struct.Struct("<4sHHHHHIIIHH")
    central = struct.Struct("<4sHHHHHHIIIHHHHHII")
    body, directory = bytearray(), bytearray()
    for i in range(count):
        raw = name.format(i).encode()
        at = len(body)
        body += local.pack(b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(raw), 0) + raw
        directory += (
            central.pack(b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(raw), 0, 0, 0, 0, 0, at) + raw
        )
    ends = b""
    if count > 0xFFFF:
        ends = struct.pack(
            "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), len(body)
        ) + struct.pack("<4sIQI", b"PK\x06\x07", 0, len(body) + len(directory), 1)
    shown = min(count, 0xFFFF)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, shown, shown, len(directory), len(body), 0)
    return bytes(body + directory) + ends + end
