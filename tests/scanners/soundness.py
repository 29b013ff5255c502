"""Files that real loaders read differently from a naive scanner (issue 14); harmless payloads only.

Each returns the bytes of one file; :data:`CASES` names them with the file name they are written under.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable

from tests.scanners.craft import (
    HARMLESS,
    Reduce,
    global0,
    tar_bytes,
    torch_zip,
    with_local_name,
    zip_bytes,
)

EVIL = pickle.dumps(Reduce(os.system, HARMLESS), protocol=2)
"""A standalone pickle that calls os.system("true")."""
CALL0 = global0("os", "system") + b"(S'" + HARMLESS.encode() + b"'\ntR"
"""Protocol-0 opcodes that call os.system("true") and leave the result on the stack."""


def b_unicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def ufunc_laundering() -> bytes:
    """One accepted ``_ufunc_reconstruct('numpy', 'add')`` and one with computed arguments, whose result a
    NumPy helper calls: ``__generator_ctor('true', <os.system>)`` calls ``os.system('true')``."""
    ufunc = global0("numpy.core", "_ufunc_reconstruct")
    computed_module = global0("builtins", "str") + b"(S'os'\ntR"
    return (
        b"\x80\x02"
        + ufunc
        + b"q\x00(S'numpy'\nS'add'\ntR0"
        + global0("numpy.random._pickle", "__generator_ctor")
        + b"(S'true'\nh\x00("
        + computed_module
        + b"S'system'\ntRtR."
    )


def loader_laundering() -> bytes:
    """``_load_from_bytes`` once over clean bytes, once over bytes it cannot see (computed)."""
    clean = pickle.dumps({"a": 1}, protocol=2)
    loader = global0("torch.storage", "_load_from_bytes")
    encoded = global0("_codecs", "encode") + b"(" + b_unicode(EVIL.decode("latin-1")) + b"S'latin1'\ntR"
    return b"\x80\x02" + loader + b"q\x00C" + bytes([len(clean)]) + clean + b"\x85R0h\x00(" + encoded + b"tR."


def hex_int_then_call() -> bytes:
    """``I0x10``, which CPython reads (base 0), in front of a call: text to a naive sniffer."""
    return b"I0x10\n0" + CALL0 + b"."


def c_string_numbers_then_call() -> bytes:
    """Numbers as CPython's C parser reads them: octal by leading 0, ``L`` suffix, a NUL ending the text."""
    return b"(I010\nL0o7L\nF1.5\x00junk\nI1_000\nl0" + CALL0 + b"."


def second_pickle_protocol0() -> bytes:
    """A clean first pickle, then a protocol-0 one that a repeated pickle.load runs."""
    return pickle.dumps({"a": 1}, protocol=2) + b"L0x1L\n0" + CALL0 + b"."


def _dtype_body(code: str) -> bytes:
    import numpy

    body = pickle.dumps(numpy.dtype(code), protocol=2)[2:-1]
    return body


def joblib_wrapper(
    raw: bytes, after: bytes, *, build_by: str = "newobj", align: bool = False, code: str = "u1"
) -> bytes:
    """A joblib array wrapper (built as joblib does, or through copyreg), then ``raw`` as the array's bytes,
    then ``after``. joblib.load steps over ``raw``; a plain pickle.load reads it as opcodes."""
    cls = global0("joblib.numpy_pickle", "NumpyArrayWrapper")
    if build_by == "newobj":
        head = cls + b")\x81"
    else:
        head = global0("copyreg", "_reconstructor") + cls + global0("builtins", "object") + b"N\x87R"
    state = (
        b"}("
        + b_unicode("subclass")
        + global0("numpy", "ndarray")
        + b_unicode("shape")
        + b"J"
        + struct.pack("<i", len(raw))
        + b"\x85"
        + b_unicode("order")
        + b_unicode("C")
        + b_unicode("dtype")
        + _dtype_body(code)
        + b_unicode("allow_mmap")
        + b"\x89"
        + (b_unicode("numpy_array_alignment_bytes") + b"K\x10" if align else b"")
        + b"ub"
    )
    pad = b"\x00" if align else b""
    return b"\x80\x02" + head + state + pad + raw + after


def joblib_array_hides_pickle() -> bytes:
    """The array bytes are a pickle: joblib skips them, pickle.load/torch.load run them."""
    return joblib_wrapper(EVIL, b".")


def joblib_wrapper_by_reconstructor() -> bytes:
    """A wrapper made through copyreg: joblib (isinstance) still reads its array, then the opcodes after it;
    read as a plain pickle the array bytes end the pickle and the rest looks like a broken second one."""
    return joblib_wrapper(b"N.", b"h\x000" + CALL0 + b".", build_by="reconstructor", code="u1")


def torch_zip_upper_case() -> bytes:
    """torch finds DATA.PKL (records are looked up case-insensitively)."""
    return zip_bytes({"archive/DATA.PKL": hex_int_then_call(), "archive/version": b"3\n"})


def torch_zip_storage_is_npy() -> bytes:
    """A torch-looking zip whose storage member is an object .npy: numpy.load of the same zip unpickles it."""
    import numpy

    buf = io.BytesIO()
    numpy.save(buf, numpy.array([Reduce(os.system, HARMLESS)], dtype=object), allow_pickle=True)
    return torch_zip(pickle.dumps({"a": 1}, protocol=2), {"archive/data/0": buf.getvalue()})


def torch_zip_damaged_directory() -> bytes:
    """A torch zip whose central directory entries are damaged: zipfile refuses it; a reader that walks the
    local headers (as torch's gets through some such damage, found by the differential fuzz) finds the
    pickle."""
    data = torch_zip(EVIL)
    return data.replace(b"PK\x01\x02", b"PK\x01\x03")


def legacy_torch_tar(v7: bool = True) -> bytes:
    """A legacy torch tar (old V7 headers when ``v7``) whose second storage record is the payload."""
    storages = pickle.dumps(2, protocol=2)
    record = b"\x80\x02(" + b_unicode("0") + b_unicode("cpu") + global0("torch", "FloatStorage") + b"t."
    storages += record + struct.pack("<q", 1) + b"\0" * 4
    storages += EVIL + struct.pack("<q", 0)
    storages += pickle.dumps([], protocol=2)
    members = {
        "sys_info": pickle.dumps({"protocol_version": 1001}, protocol=2),
        "pickle": pickle.dumps({"a": 1}, protocol=2),
        "storages": storages,
        "tensors": pickle.dumps(0, protocol=2),
    }
    data = bytearray(tar_bytes(members))
    if v7:
        off = 0
        while off + 512 <= len(data) and data[off]:
            size = int(data[off + 124 : off + 136].rstrip(b"\0 ") or b"0", 8)
            data[off + 257 : off + 265] = b"\0" * 8  # no ustar magic
            data[off + 148 : off + 156] = b" " * 8
            data[off + 148 : off + 156] = b"%06o\0 " % sum(data[off : off + 512])
            off += 512 + (size + 511) // 512 * 512
    return bytes(data)


def torch_zip_local_name_differs() -> bytes:
    """A torch zip whose data.pkl has another name in its local header (found by the differential fuzz):
    zipfile refuses the member, torch's reader finds it by the central directory and unpickles it."""
    return with_local_name(torch_zip(EVIL), b"archive/data.pkl", b"archive/d\x13ta.pkl")


def torch_zip_version_needed() -> bytes:
    """A torch zip whose other member asks for zip version 6.5 in the central directory (found by the
    differential fuzz): zipfile refuses the whole archive, torch ignores the field and unpickles data.pkl."""
    data = bytearray(torch_zip(EVIL))
    second = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    data[second + 6] = 65  # version needed to extract: 6.5
    return bytes(data)


def zip_member_without_name() -> bytes:
    """A torch-looking zip with an object ``.npy`` storage and one central entry whose name is empty (its
    bytes moved into the entry's comment; found by the differential fuzz): numpy.load still reads the
    storage's pickle; the scanner must neither crash on the nameless member nor stop there."""
    data = bytearray(torch_zip_storage_is_npy())
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + 15] != b"archive/version":
        at = data.index(b"PK\x01\x02", at + 4)
    data[at + 28 : at + 30] = struct.pack("<H", 0)  # no name
    data[at + 32 : at + 34] = struct.pack("<H", 15)  # the name's bytes are now the comment
    return bytes(data)


def npz_declared_huge() -> bytes:
    """An ``.npz`` whose directory declares a huge size for its object member (found by the differential
    fuzz, seed 1002157): numpy.load inflates until the stream ends whatever the size says, so the scanner
    must read it too, and call it a bomb only if its bytes are one."""
    import numpy

    buf = io.BytesIO()
    numpy.save(buf, numpy.array([Reduce(os.system, HARMLESS)], dtype=object), allow_pickle=True)
    data = bytearray(zip_bytes({"a.npy": buf.getvalue()}, compression=zipfile.ZIP_DEFLATED))
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 0x7FFFFFF0)  # the uncompressed size
    return bytes(data)


def joblib_zfile() -> bytes:
    return b"ZF" + b"0x%016x" % len(EVIL) + b" " + zlib.compress(EVIL)


def zstd_frame() -> bytes:
    import zstandard

    return bytes(zstandard.ZstdCompressor().compress(EVIL))


def stack_global_binstring() -> bytes:
    """STACK_GLOBAL's names pushed by SHORT_BINSTRING: bytes in the opcode stream, but every loader decodes
    them to str before looking the global up."""
    command = HARMLESS.encode()
    return b"\x80\x02U\x02osU\x06system\x93(U" + bytes([len(command)]) + command + b"tR."


def npy_repeat_object() -> bytes:
    """An npy whose descr is ``'1O'``: numpy reads it as an object subarray and unpickles the data."""
    header = "{'descr': '1O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + EVIL


def int_starting_with_nul() -> bytes:
    """``I\\x00z``: C's strtol stops on the NUL before any digit and the unpickler takes it as False; a parser
    that wants digits stops there and misses the call after it."""
    return b"I\x00z\n0" + CALL0 + b"."


_HEADERS = {b"PK\x03\x04": (26, 30), b"PK\x01\x02": (28, 46)}  # where the name's length and the name lie


def patch_member(data: bytes, name: str, fields: dict[bytes, list[tuple[int, str, int]]]) -> bytes:
    """Set fields (offset, struct format, value) of one member's local (``PK\\3\\4``) and central
    (``PK\\1\\2``) headers."""
    out = bytearray(data)
    raw = name.encode()
    for sig, changes in fields.items():
        length_at, name_at = _HEADERS[sig]
        at = out.index(sig)
        while out[at + length_at : at + length_at + 2] != struct.pack("<H", len(raw)) or not out.startswith(
            raw, at + name_at
        ):
            at = out.index(sig, at + 4)
        for offset, fmt, value in changes:
            struct.pack_into(fmt, out, at + offset, value)
    return bytes(out)


_NOON = [(10, "<H", 12 << 11)]  # a modification time of 12:00 (miniz checks stored sizes only without one)


def torch_zip_central_size_short() -> bytes:
    """A torch zip whose central directory gives stored ``data.pkl`` a compressed size of 2 bytes (found by
    the differential fuzz, seed 795164): zipfile reads 2 bytes, torch's miniz reads the uncompressed size."""
    data = torch_zip(EVIL)
    return patch_member(
        data, "archive/data.pkl", {b"PK\x03\x04": _NOON, b"PK\x01\x02": [(12, "<H", 12 << 11), (20, "<I", 2)]}
    )


def torch_zip_stored_sizes_differ() -> bytes:
    """The same short compressed size in the local header too: the headers agree, but a stored member's two
    sizes do not (zipfile reads the smaller, torch's miniz the uncompressed size)."""
    short = [(18, "<I", 2)]
    return patch_member(
        torch_zip_central_size_short(), "archive/data.pkl", {b"PK\x03\x04": short, b"PK\x01\x02": []}
    )


def torch_zip_two_directories() -> bytes:
    """Two torch zips of the same lengths, one after the other, under the first one's end record: zipfile
    finds the directory before the end record and takes the first zip for prepended bytes (reading the
    clean second one), torch's miniz reads the directory where the end record says (the payload's)."""
    clean = pickle.dumps({"a": "x" * (len(EVIL) - len(pickle.dumps({"a": ""}, protocol=2)))}, protocol=2)
    evil, good = torch_zip(EVIL), torch_zip(clean)
    at = evil.rindex(b"PK\x05\x06")
    return evil[:at] + good[: good.rindex(b"PK\x05\x06")] + evil[at:]


def torch_zip_directory_size_off() -> bytes:
    """A torch zip whose end record overstates the directory's size by 2 and whose data.pkl says LZMA in its
    local header only (found by the header fuzz): zipfile cannot open it, a walk of the local headers cannot
    read the member, torch's miniz reads the directory where the end record says and the member as stored."""
    data = patch_member(torch_zip(EVIL), "archive/data.pkl", {b"PK\x03\x04": [(8, "<H", zipfile.ZIP_LZMA)]})
    end = data.rindex(b"PK\x05\x06")
    size = struct.unpack_from("<I", data, end + 12)[0]
    return data[: end + 12] + struct.pack("<I", size + 2) + data[end + 16 :]


def torch_zip_member_not_inflating() -> bytes:
    """A torch zip whose first member, a storage torch never reads, names deflate but holds bytes that do not
    inflate (found by the header fuzz): the error on that member must not end the scan before data.pkl."""
    data = zip_bytes({"archive/data/0": b"\0" * 8, "archive/data.pkl": EVIL, "archive/version": b"3\n"})
    method = [(8, "<H", zipfile.ZIP_DEFLATED)]
    return patch_member(data, "archive/data/0", {b"PK\x03\x04": method, b"PK\x01\x02": [(10, "<H", 8)]})


CASES: dict[str, Callable[[], bytes]] = {
    "ufunc_laundering.pkl": ufunc_laundering,
    "loader_laundering.pkl": loader_laundering,
    "hex_int.pkl": hex_int_then_call,
    "c_numbers.pkl": c_string_numbers_then_call,
    "second_protocol0.pkl": second_pickle_protocol0,
    "joblib_array_hides_pickle.joblib": joblib_array_hides_pickle,
    "joblib_wrapper_by_reconstructor.joblib": joblib_wrapper_by_reconstructor,
    "torch_upper_case.pt": torch_zip_upper_case,
    "torch_storage_npy.pt": torch_zip_storage_is_npy,
    "torch_damaged_directory.pt": torch_zip_damaged_directory,
    "legacy_v7.tar": legacy_torch_tar,
    "joblib_zf.pkl": joblib_zfile,
    "npz_declared_huge.npz": npz_declared_huge,
    "torch_local_name_differs.pt": torch_zip_local_name_differs,
    "torch_version_needed.pt": torch_zip_version_needed,
    "zip_member_without_name.pt": zip_member_without_name,
    "model.pkl.zst": zstd_frame,
    "stack_global_binstring.pkl": stack_global_binstring,
    "npy_repeat_object.npy": npy_repeat_object,
    "int_starting_with_nul.pkl": int_starting_with_nul,
    "torch_central_size_short.pt": torch_zip_central_size_short,
    "torch_member_not_inflating.pt": torch_zip_member_not_inflating,
    "torch_stored_sizes_differ.pt": torch_zip_stored_sizes_differ,
    "torch_two_directories.pt": torch_zip_two_directories,
    "torch_directory_size_off.pt": torch_zip_directory_size_off,
}
