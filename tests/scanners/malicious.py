"""Builders of malicious model files, one per technique. Each returns the path to scan."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import pickle
import subprocess
import tarfile
import warnings
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from tests.scanners.craft import (
    HARMLESS,
    Reduce,
    call0,
    dumps,
    global0,
    mark_encrypted,
    stack_global,
    torch_zip,
    with_local_name,
    zip_bytes,
)

Builder = Callable[[Path], Path]
BUILDERS: dict[str, Builder] = {}


def case(name: str) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    """Register a builder of one file's bytes under ``name`` (the file name carries the extension)."""

    def register(fn: Callable[[], bytes]) -> Callable[[], bytes]:
        def build(tmp: Path) -> Path:
            path = tmp / name
            path.write_bytes(fn())
            return path

        BUILDERS[name] = build
        return fn

    return register


def evil(protocol: int = 4) -> bytes:
    return dumps(Reduce(os.system, HARMLESS), protocol)


for _p in range(6):
    case(f"system_proto{_p}.pkl")(lambda p=_p: evil(p))

case("subprocess_popen.pkl")(lambda: dumps(Reduce(subprocess.Popen, [HARMLESS])))
case("subprocess_check_output.pt")(lambda: dumps(Reduce(subprocess.check_output, [HARMLESS])))
case("builtins_eval.bin")(lambda: dumps(Reduce(eval, "1+1")))
case("builtins_exec.ckpt")(lambda: dumps(Reduce(exec, "x = 1")))
case("py2_builtin_eval.pkl")(lambda: call0("__builtin__", "eval", "1+1"))
case("inst_opcode.pkl")(lambda: b"(S'true'\nios\nsystem\n.")
case("obj_opcode.pkl")(lambda: b"\x80\x02(" + global0("os", "system") + b"X\x04\x00\x00\x00trueo.")
case("stack_global_memo.pkl")(lambda: stack_global("os", "system", b"X\x04\x00\x00\x00true\x85"))
case("stack_global_dotted_attr.pkl")(lambda: stack_global("numpy", "os.system", b"X\x04\x00\x00\x00true\x85"))
case("newobj_popen.pkl")(
    lambda: b"\x80\x02" + global0("subprocess", "Popen") + b"X\x04\x00\x00\x00true\x85\x81."
)
case("newobj_ex.pkl")(
    lambda: b"\x80\x04" + global0("subprocess", "Popen") + b"X\x04\x00\x00\x00true\x85}\x92."
)
case("ext_code.pkl")(lambda: b"\x80\x02\x82\x01)R.")
case("build_on_global.pkl")(
    lambda: b"\x80\x02" + global0("collections", "OrderedDict") + b"}X\x01\x00\x00\x00a" + b"K\x01sb."
)
case("setitems_on_global.pkl")(
    lambda: b"\x80\x02" + global0("os", "environ") + b"(X\x01\x00\x00\x00aX\x01\x00\x00\x00bu."
)
case("getattr_walk.pkl")(
    lambda: (
        b"\x80\x02"
        + global0("builtins", "getattr")
        + global0("builtins", "dict")
        + b"X\x05\x00\x00\x00clear\x86R)R."
    )
)
case("call_on_call_result.pkl")(lambda: b"\x80\x02" + global0("collections", "OrderedDict") + b")R)R.")
case("runpy_run_path.pkl")(lambda: call0("runpy", "run_path", "/tmp/x.py"))
case("importlib_import.pkl")(lambda: call0("importlib", "import_module", "this"))
case("code_interpreter.pkl")(lambda: call0("code", "InteractiveInterpreter", "x"))
case("webbrowser_open.pkl")(lambda: call0("webbrowser", "open", "http://127.0.0.1/"))
case("socket_connect.pkl")(lambda: call0("socket", "create_connection", "127.0.0.1"))
case("shutil_rmtree.pkl")(lambda: call0("shutil", "rmtree", "/nonexistent"))
case("builtins_open.pkl")(lambda: call0("builtins", "open", "/tmp/modelseal-marker"))
case("numpy_runstring.pkl")(lambda: call0("numpy.testing._private.utils", "runstring", "x=1"))
case("unknown_module.pkl")(lambda: call0("evilcorp.payload", "run", "x"))
case("functools_partial.pkl")(lambda: dumps(Reduce(__import__("functools").partial, print, "x")))
case("copyreg_reconstructor_popen.pkl")(
    lambda: (
        b"\x80\x02"
        + global0("copyreg", "_reconstructor")
        + global0("subprocess", "Popen")
        + global0("builtins", "object")
        + b"N\x87R."
    )
)
case("nested_pickle_loads.pkl")(lambda: dumps(Reduce(pickle.loads, evil(2))))
case("nested_torch_load_from_bytes.pkl")(
    lambda: (
        b"\x80\x02"
        + global0("torch.storage", "_load_from_bytes")
        + b"C"
        + bytes([len(evil(2))])
        + evil(2)
        + b"\x85R."
    )
)
case("nested_in_large_payload.pkl")(
    lambda: (
        b"\x80\x04"
        + global0("collections", "OrderedDict")
        + b")R"
        + b"\x8e"
        + (len(evil(4)) + (2 << 20)).to_bytes(8, "little")
        + evil(4)
        + b"\0" * (2 << 20)
        + b"0."
    )
)
case("nested_via_codecs_latin1.pkl")(lambda: dumps(Reduce(pickle.loads, evil(2)), protocol=2))
case("truncated_after_reduce.pkl")(lambda: evil(2)[:-1])
case("second_pickle_malicious.pkl")(lambda: dumps({"ok": 1}) + evil(4))
case("protocol5_buffer.pkl")(lambda: b"\x80\x05\x97\x98" + evil(5)[2:])
case("memo_reuse.pkl")(
    lambda: b"\x80\x02" + global0("os", "system") + b"q\x000h\x00X\x04\x00\x00\x00true\x85R."
)
case("pickle_named_safetensors.safetensors")(lambda: evil(4))
case("pickle_named_json.json")(lambda: evil(4))
case("torch_zip_data_pkl.pt")(lambda: torch_zip(evil(2)))
case("torch_zip_extra_pkl.pt")(lambda: torch_zip(dumps(OrderedDict(), 2), {"archive/extra.pkl": evil(2)}))
case("torch_zip_other_prefix.bin")(lambda: torch_zip(evil(2), prefix="model-v2"))
case("torchscript_code_open.pt")(
    lambda: zip_bytes(
        {
            "m/data.pkl": dumps({}, 2),
            "m/constants.pkl": dumps((), 2),
            "m/code/__torch__.py": b"def forward(self, x):\n    f = open('/etc/passwd')\n    return x\n",
        }
    )
)
case("torchscript_custom_op.pt")(
    lambda: zip_bytes(
        {
            "m/data.pkl": dumps({}, 2),
            "m/constants.pkl": dumps((), 2),
            "m/code/__torch__.py": b"def forward(self, x):\n    return torch.ops.evil.run(x)\n",
        }
    )
)
case("legacy_torch_sequential.pt")(
    lambda: dumps(0x1950A86A20F9469CFC6C, 2) + dumps(1001, 2) + dumps({}, 2) + evil(2) + dumps([], 2)
)


def _legacy_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in {
            "sys_info": dumps({}, 2),
            "pickle": evil(2),
            "storages": dumps(0, 2),
            "tensors": dumps(0, 2),
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


case("legacy_torch_tar.pt")(_legacy_tar)


def _npy_object() -> bytes:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + evil(3)


case("object_array.npy")(_npy_object)
case("object_array_in.npz")(lambda: zip_bytes({"arr_0.npy": _npy_object()}))


def _joblib_like(compress: Callable[[bytes], bytes] | None = None) -> bytes:
    data = dumps({"model": Reduce(os.system, HARMLESS)}, 4)
    return compress(data) if compress else data


case("joblib_plain.joblib")(_joblib_like)
case("joblib_zlib.joblib")(lambda: _joblib_like(zlib.compress))
case("joblib_gzip.joblib")(lambda: _joblib_like(gzip.compress))
case("joblib_bz2.joblib")(lambda: _joblib_like(bz2.compress))
case("joblib_xz.joblib")(lambda: _joblib_like(lzma.compress))
case("joblib_lzma.joblib")(lambda: _joblib_like(lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE)))
case("joblib_lz4.joblib")(lambda: _joblib_like(lambda d: __import__("lz4.frame").frame.compress(d)))
case("polyglot_pickle_then_zip.pt")(lambda: evil(2) + zip_bytes({"a.txt": b"hello"}))
case("zip_with_pickle.zip")(lambda: zip_bytes({"weights/model.bin": evil(2)}))
case("zip_path_traversal.zip")(lambda: zip_bytes({"../../evil.pkl": evil(2)}))
case("zip_header_mismatch.zip")(
    lambda: with_local_name(zip_bytes({"aaaa.txt": b"hello", "bbbb.bin": b"x"}), b"aaaa.txt", b"evil.pkl")
)
case("zip_encrypted.zip")(lambda: mark_encrypted(zip_bytes({"model.pkl": evil(2)})))
case("gzip_pickle.pt.gz")(lambda: gzip.compress(evil(2)))


def _dup_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate, which is the point
        zf.writestr("model.pkl", dumps({}, 2))
        zf.writestr("model.pkl", evil(2))
    return buf.getvalue()


case("zip_duplicate_names.zip")(_dup_zip)


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


case("tar_gz_nested_zip.tar.gz")(lambda: _tar_gz({"inner.zip": zip_bytes({"deep/model.pkl": evil(2)})}))
case("tar_link_escape.tar")(lambda: _tar_link())


@case("polyglot_pickle_tar.pt")
def _pickle_named_tar() -> bytes:
    """A valid tar (what torch.load reads) whose first member's name field is a pickle (what pickle.load
    runs): the header checksum is recomputed over the new name."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("placeholder")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"hello"))
    data = bytearray(buf.getvalue())
    front = evil(2)
    assert len(front) < 100
    data[0:100] = front.ljust(100, b"\0")
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\0 " % sum(data[:512])
    return bytes(data)


def _tar_link() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("model.bin")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../../../etc/passwd"
        tf.addfile(info)
    return buf.getvalue()


def _seven_zip() -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as archive:
        archive.writestr(evil(2), "model.pkl")
    return buf.getvalue()


case("seven_zip.7z")(_seven_zip)
