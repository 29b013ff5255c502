"""Generated and mutated inputs for the differential oracle, and the check of one input.

Every input is made from a ``random.Random`` (Hypothesis drives one in the test suite, a seeded one drives
``bench/fuzz_differential.py``): pickle programs over protocols 0-5 with the argument forms CPython accepts,
several pickles per stream, joblib layouts, torch zip and legacy tar layouts, ``.npz`` archives and
compressed streams, then byte-level mutations. The names they import come from a pool of allowlisted,
dangerous and unknown globals; nothing is ever called by this process, and the oracle process replaces every
name that is not allowlisted by an inert stub.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelseal.api.scanning import scan_file
from modelseal.core.artifact import FileEntry
from modelseal.core.config import Config
from modelseal.core.findings import Severity
from modelseal.scanners.interface import ScanContext
from modelseal.scanners.pickle.allowlist import default_allowlist
from modelseal.scanners.registry import dispatch
from tests.scanners.craft import tar_bytes, zip_bytes

NAMES: tuple[tuple[str, str], ...] = (
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "object"),
    ("__builtin__", "set"),
    ("copyreg", "_reconstructor"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "__newobj__"),
    ("_codecs", "encode"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("joblib", "numpy_pickle.NumpyArrayWrapper"),
    ("os", "system"),
    ("posix", "system"),
    ("subprocess", "Popen"),
    ("builtins", "eval"),
    ("builtins", "getattr"),
    ("functools", "partial"),
    ("operator", "attrgetter"),
    ("numpy.core", "_ufunc_reconstruct"),
    ("torch.storage", "_load_from_bytes"),
    ("mypkg.models", "Net"),
    ("argparse", "Namespace"),
    ("pathlib", "PosixPath"),
    ("collections", "OrderedDict.fromkeys"),
)
STRINGS = ("a", "os", "system", "true", "numpy", "add", "shape", "dtype", "\u00e9", "u1", "C")
INT_FORMS = (
    b"0",
    b"1",
    b"00",
    b"01",
    b"7",
    b"0x1f",
    b"0o7",
    b"0b11",
    b"010",
    b"1_0",
    b" 3",
    b"-2",
    b"5\x00z",
)


class _Program:
    """A pickle program that pushes well-formed values most of the time (so the interesting opcodes run)."""

    def __init__(self, rng: random.Random, depth: int = 3) -> None:
        self.rng = rng
        self.depth = depth
        self.memo = 0

    def const(self) -> bytes:
        r = self.rng
        kind = r.randrange(12)
        if kind == 0:
            return b"I" + r.choice(INT_FORMS) + b"\n"
        if kind == 1:
            return b"L" + r.choice(INT_FORMS).rstrip(b"\x00z") + r.choice((b"L", b"")) + b"\n"
        if kind == 2:
            return b"K" + bytes([r.randrange(256)])
        if kind == 3:
            return b"J" + struct.pack("<i", r.randrange(-1000, 1000))
        if kind == 4:
            return b"F" + r.choice((b"1.5", b"2", b"1e3", b"1.5\x00x", b"nan")) + b"\n"
        if kind == 5:
            return b"S'" + r.choice(STRINGS).encode("latin-1") + b"'\n"
        if kind == 6:
            return b"V" + r.choice(STRINGS).encode("raw_unicode_escape") + b"\n"
        if kind == 7:
            return self.unicode(r.choice(STRINGS))
        if kind == 8:
            raw = r.randbytes(r.randrange(8))
            return b"C" + bytes([len(raw)]) + raw
        if kind == 9:
            return r.choice((b"N", b"\x88", b"\x89"))
        if kind == 10:
            return b"\x8a\x01" + bytes([r.randrange(128)])
        return b"G" + struct.pack(">d", r.random())

    def unicode(self, text: str) -> bytes:
        raw = text.encode("utf-8")
        if self.rng.random() < 0.5:
            return b"\x8c" + bytes([len(raw)]) + raw
        return b"X" + struct.pack("<I", len(raw)) + raw

    def global_(self) -> bytes:
        module, name = self.rng.choice(NAMES)
        if self.rng.random() < 0.5:
            return b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        return self.unicode(module) + self.unicode(name) + b"\x93"

    def memoise(self, value: bytes) -> bytes:
        r = self.rng
        self.memo += 1
        return value + r.choice(
            (b"\x94", b"q" + bytes([self.memo - 1]), b"p" + str(self.memo - 1).encode() + b"\n")
        )

    def expr(self, depth: int | None = None) -> bytes:
        depth = self.depth if depth is None else depth
        r = self.rng
        if depth <= 0:
            return self.const() if r.random() < 0.8 else self.global_()
        kind = r.randrange(14)

        def sub() -> bytes:
            return self.expr(depth - 1)

        if kind == 0:
            return self.global_()
        if kind == 1:
            return self.global_() + self.args(depth) + b"R"
        if kind == 2:
            return self.global_() + self.args(depth) + b"\x81"
        if kind == 3:
            return self.global_() + self.args(depth) + b"}\x92"
        if kind == 4:
            module, name = r.choice(NAMES)
            return b"(" + sub() + b"i" + module.encode() + b"\n" + name.encode() + b"\n"
        if kind == 5:
            return b"(" + self.global_() + sub() + b"o"
        if kind == 6:
            return sub() + sub() + b"b"  # BUILD
        if kind == 7:
            return b"](" + sub() + sub() + b"e"
        if kind == 8:
            return b"}(" + sub() + sub() + b"u"
        if kind == 9:
            return self.memoise(sub())
        if kind == 10 and self.memo:
            index = r.randrange(self.memo)
            if index < 256 and r.random() < 0.5:
                return b"h" + bytes([index])
            return b"g" + str(index).encode() + b"\n"
        if kind == 11:
            return sub() + b"2" + b"0"  # DUP, POP
        if kind == 12:
            return b"(" + sub() + sub() + b"t"
        return self.const()

    def args(self, depth: int) -> bytes:
        n = self.rng.randrange(4)
        items = b"".join(self.expr(depth - 1) for _ in range(n))
        return (b")", items + b"\x85", items + b"\x86", items + b"\x87")[n] if n else b")"

    def pickle(self) -> bytes:
        protocol = self.rng.randrange(6)
        head = b"\x80" + bytes([protocol]) if protocol >= 2 else b""
        return head + self.expr() + b"."


def _npy_object(payload: bytes) -> bytes:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def _joblib(program: _Program, rng: random.Random) -> bytes:
    from tests.scanners.soundness import joblib_wrapper

    raw = program.pickle() if rng.random() < 0.5 else rng.randbytes(rng.randrange(1, 9))
    after = rng.choice((b".", program.expr(1) + b"0.", b"h\x000" + program.expr(1) + b"."))
    how = rng.choice(("newobj", "reconstructor"))
    return joblib_wrapper(raw, after, build_by=how, code="u1")


def _layout(rng: random.Random) -> tuple[str, bytes]:
    program = _Program(rng)
    kind = rng.randrange(7)
    if kind == 0:
        return "m.pkl", b"".join(program.pickle() for _ in range(rng.randrange(1, 4)))
    if kind == 1:
        return "m.joblib", _joblib(program, rng)
    if kind == 2:
        prefix = rng.choice(("archive", "model"))
        pkl = rng.choice(("data.pkl", "DATA.PKL", "Data.pkl"))
        members = {f"{prefix}/{pkl}": program.pickle(), f"{prefix}/version": b"3\n"}
        if rng.random() < 0.5:
            members[f"{prefix}/data/0"] = _npy_object(program.pickle()) if rng.random() < 0.5 else b"\x00" * 8
        return "m.pt", zip_bytes(members)
    if kind == 3:
        return "m.npz", zip_bytes(
            {f"a{i}.npy": _npy_object(program.pickle()) for i in range(rng.randrange(1, 3))}
        )
    if kind == 4:
        storage = b"\x80\x02(X\x01\x00\x00\x000X\x03\x00\x00\x00cpuctorch\nFloatStorage\nt."
        records = b"\x80\x02K\x02." + storage + struct.pack("<q", 1) + b"\0" * 4 + program.pickle()
        records += struct.pack("<q", 0) + b"\x80\x02]."
        members = {
            "sys_info": b"\x80\x02}.",
            "pickle": program.pickle(),
            "storages": records,
            "tensors": b"K\x00.",
        }
        return "m.tar", tar_bytes(members)
    if kind == 5:
        return "m.npy", _npy_object(program.pickle())
    inner = program.pickle() if rng.random() < 0.6 else _joblib(program, rng)
    squash: Callable[[bytes], bytes] = rng.choice(_SQUASH)
    return "m.pkl.z", squash(inner)


_SQUASH: tuple[Callable[[bytes], bytes], ...] = (
    functools.partial(gzip.compress, compresslevel=1),
    zlib.compress,
    functools.partial(bz2.compress, compresslevel=1),
    # a small dictionary: the default one costs ~20 ms to set up per call, for inputs of a few hundred bytes
    functools.partial(lzma.compress, filters=[{"id": lzma.FILTER_LZMA2, "preset": 0, "dict_size": 1 << 12}]),
)


def _mutate(data: bytes, rng: random.Random) -> bytes:
    if not data or rng.random() < 0.6:
        return data
    buf = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(buf))
        op = rng.randrange(4)
        if op == 0:
            buf[i] = rng.randrange(256)
        elif op == 1:
            del buf[i]
        elif op == 2:
            buf.insert(i, rng.choice(b"().0NRbcst\x80\x94h"))
        else:
            del buf[i:]
        if not buf:
            break
    return bytes(buf)


def generate(rng: random.Random) -> tuple[str, bytes]:
    """One input: a file name (its layout's usual one) and its bytes."""
    name, data = _layout(rng)
    return name, _mutate(data, rng)


@dataclass(frozen=True)
class Divergence:
    """A global a loader resolved that the scanner did not see, or did not report though not allowlisted."""

    loader: str
    name: str
    why: str


@functools.cache
def _context() -> ScanContext:
    return ScanContext(Config().limits, dispatch, default_allowlist())


@dataclass(frozen=True)
class Scanned:
    """What the scanner made of one file: its format, the messages of its findings, its imports."""

    format: str
    named: str
    imports: frozenset[str]
    blocks: bool
    """A finding at high or above: the file fails the default gate."""


def scanned(path: Path) -> Scanned:
    """Scan one file through ``scan_file``, the per-file step of ``scan``, in this process (no target
    resolution, hashing or report around it)."""
    entry = FileEntry(path.name, path, path.stat().st_size)
    fmt, findings, _, imports = scan_file(entry, _context())
    blocks = any(f.severity >= Severity.HIGH for f in findings)
    return Scanned(fmt, " ".join(f.message for f in findings), frozenset(imports), blocks)


def compare(seen: Scanned, resolved: dict[str, set[tuple[str, str]]]) -> list[Divergence]:
    """The invariant on one file: every global a loader resolved is among the scanner's imports, and every
    one not allowlisted is named by a finding (at or above medium unless every use of it was judged safe). In
    a file read as text or unknown content (itself high), also inside a compressed stream, a loader can only
    try an import and stop before any call: listed, not reported by name."""
    allow = default_allowlist()
    out = []
    for loader, names in resolved.items():
        for module, name in names:
            key = f"{module}:{name}"
            if key not in seen.imports:
                out.append(Divergence(loader, key, "not among the scanner's imports"))
                continue
            verdict = allow.classify(module, name)
            inner = seen.format.rsplit("+", 1)[-1]  # "gzip+unknown": unknown content inside a gzip
            reported = verdict.allowed or verdict.rebuild or inner in ("text", "unknown")
            if not reported and f"{module}.{name}" not in seen.named:
                out.append(Divergence(loader, key, "not allowlisted, yet no finding names it"))
    return out


def check(path: Path, resolved: dict[str, set[tuple[str, str]]]) -> list[Divergence]:
    """:func:`compare` for the file at ``path``."""
    return compare(scanned(path), resolved)
