"""Issue 14: the scanner reads every file as the loaders read it. Each case is built by code (harmless
payloads) and confirmed against the real loaders (tests/scanners/oracle.py) where a loader can reach it."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelseal.api import scan
from modelseal.core.findings import Finding, Severity
from tests.scanners.oracle import Oracle
from tests.scanners.soundness import CASES, EVIL, joblib_wrapper

SRC = Path(__file__).resolve().parents[2] / "src"
PAYLOAD = {("os", "system"), ("posix", "system")}
# Cases whose payload no loader here reaches without help: the first two go through NumPy/torch helpers
# that the oracle replaces by stubs (it never runs a gadget); zstd is read by pandas, not by these loaders;
# the damaged directory is damaged past what torch tolerates (the scanner reads such zips by local headers).
NOT_REACHED_BY_ORACLE = {
    "ufunc_laundering.pkl",
    "loader_laundering.pkl",
    "model.pkl.zst",
    "torch_damaged_directory.pt",
}


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    worker = Oracle(SRC)
    yield worker
    worker.close()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _loud(findings: tuple[Finding, ...]) -> list[tuple[str, str, str]]:
    return [(f.rule_id, f.severity.label, f.message) for f in findings if f.severity >= Severity.HIGH]


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_is_flagged_high(name: str, tmp_path: Path) -> None:
    path = _write(tmp_path, name, CASES[name]())
    result = scan([path])
    dangerous = [f for f in result.findings if f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE"]
    assert dangerous and max(f.severity for f in dangerous) >= Severity.HIGH, _loud(result.findings)


@pytest.mark.parametrize("name", sorted(set(CASES) - NOT_REACHED_BY_ORACLE))
def test_loaders_reach_the_payload_and_the_scanner_saw_it(name: str, tmp_path: Path, oracle: Oracle) -> None:
    """The case is real (some loader resolves os.system), and every global any loader resolved is among the
    file's imports in the JSON report."""
    path = _write(tmp_path, name, CASES[name]())
    resolved = set().union(*oracle.resolved(path).values())
    assert resolved & PAYLOAD
    report = scan([path]).targets[0].files[0]
    assert {f"{m}:{n}" for m, n in resolved} <= set(report.imports)


def test_accepted_ufunc_does_not_clear_a_computed_one(tmp_path: Path) -> None:
    """Class 1: each call is judged on its own arguments; a computed one is unknown, never fine."""
    findings = scan([_write(tmp_path, "u.pkl", CASES["ufunc_laundering.pkl"]())]).findings
    messages = [f.message for f in findings if f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE"]
    assert any("numpy.core._ufunc_reconstruct" in m for m in messages), messages
    assert any("__generator_ctor call" in m for m in messages), messages


def test_clean_ufunc_and_bit_generators_pass(tmp_path: Path) -> None:
    import numpy

    data = pickle.dumps([numpy.add, numpy.random.default_rng(1), numpy.random.RandomState(2)], protocol=4)
    assert _loud(scan([_write(tmp_path, "rng.pkl", data)]).findings) == []


def test_bit_generator_constructor_calling_an_unlisted_class_is_a_gadget(tmp_path: Path) -> None:
    data = b"\x80\x02cnumpy.random._pickle\n__bit_generator_ctor\ncthirdparty.module\nAnything\n\x85R."
    findings = scan([_write(tmp_path, "bg.pkl", data)]).findings
    assert any(
        f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE" and "thirdparty.module.Anything" in f.message
        for f in findings
    )


@pytest.mark.parametrize(
    "line",
    [b"0x10", b"0o17", b"0b101", b"010", b"1_000", b" 12", b"-0x10", b"12\x00junk", b"99999999999999999999"],
)
def test_protocol0_int_forms_cpython_accepts(line: bytes, tmp_path: Path) -> None:
    """Class 2: INT read as CPython's _pickle reads it (strtol base 0, then int(s, 0))."""
    data = b"I" + line + b"\n0" + b"cos\nsystem\n(S'true'\ntR."
    pickle.loads(b"I" + line + b"\n.")  # CPython accepts the form
    rules = {f.rule_id for f in scan([_write(tmp_path, "i.pkl", data)]).findings}
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in rules


def test_joblib_file_is_read_both_ways(tmp_path: Path) -> None:
    """Class 3: joblib skips the array bytes, pickle.load reads them as opcodes: both are scanned."""
    import joblib
    import numpy

    clean = tmp_path / "clean.joblib"
    joblib.dump({"w": numpy.arange(1000, dtype=numpy.float32), "o": numpy.array(["a"], dtype=object)}, clean)
    assert _loud(scan([clean]).findings) == []
    raw = numpy.frombuffer(EVIL, dtype=numpy.uint8)
    hidden = tmp_path / "hidden.joblib"
    hidden.write_bytes(joblib_wrapper(raw.tobytes(), b"."))
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in {f.rule_id for f in scan([hidden]).findings}


def test_compressed_joblib_is_read_both_ways(tmp_path: Path) -> None:
    import gzip

    path = _write(tmp_path, "hidden.joblib.gz", gzip.compress(joblib_wrapper(EVIL, b".")))
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in {f.rule_id for f in scan([path]).findings}


def test_zstd_without_its_decoder_is_not_a_pass(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.pkl.zst", CASES["model.pkl.zst"]())
    code = (
        "import sys; sys.modules['zstandard'] = None\n"
        "from modelseal.api import scan\n"
        f"print(sorted({{(f.rule_id, f.severity.label) for f in scan([{str(path)!r}]).findings}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert "('MS-FORMAT-NOT-ANALYSED', 'high')" in out.stdout, out.stderr


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("weights.bin", bytes(range(7, 256)) * 8),
        ("model.pt", b"\x89PNG\r\n\x1a\n" + bytes(64)),
        ("model.safetensors", (1 << 45).to_bytes(8, "little") + b'{"a": 1}'),
    ],
)
def test_content_matching_no_format_fails_closed(name: str, data: bytes, tmp_path: Path) -> None:
    """Class 4: unknown content (and inert content under a loader's name) is at least high."""
    result = scan([_write(tmp_path, name, data)])
    assert result.fails(Severity.HIGH), [(f.rule_id, f.severity.label) for f in result.findings]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("logo.png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
        ("sample.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32)),
        ("spiece.model", b"\x0a\x09\x0a\x05<unk>\x15\x00\x00\x00\x00\x0a\x08\x0a\x03<s>\x15\x00\x00\x00\x00"),
        ("variables/variables.data-00000-of-00001", bytes(range(7, 256)) * 8),
        (
            "xgb.ubj",
            b"{L" + (7).to_bytes(8, "big") + b"learner{L" + (10).to_bytes(8, "big") + b"attributes{}}}",
        ),
    ],
)
def test_inert_content_passes(name: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    assert _loud(scan([tmp_path]).findings) == []


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    code = "import sys; from modelseal.cli.app import console; sys.argv[0] = 'modelseal'; console()"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, env=env)


def test_name_that_is_not_utf8_is_a_finding_and_reports_render(tmp_path: Path) -> None:
    """Class 8: a finding, not exit 2; JSON and SARIF are valid UTF-8 with the name escaped."""
    folder = tmp_path / "m"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"w\xff.pkl"), "wb") as f:
        f.write(pickle.dumps({"a": 1}))
    for fmt in ("json", "sarif", "text"):
        done = _cli("scan", str(folder), "--format", fmt)
        assert done.returncode == 0, done.stderr
        if fmt == "text":  # the terminal gets the name's bytes as they are
            continue
        out = done.stdout.decode("utf-8")
        if fmt == "json":
            doc = json.loads(out)
            assert [f["path"] for f in doc["files"]] == ["w\\xff.pkl"]
            assert [f["rule_id"] for f in doc["findings"]] == ["MS-FILE-NAME-NOT-UTF8"]
        elif fmt == "sarif":
            assert "w%FF.pkl" in json.dumps(json.loads(out))


# Peak RSS from /proc (VmHWM starts afresh at exec; ru_maxrss keeps the forking parent's peak on Linux).
_MEMO_PROBE = """
import resource, sys
from modelseal.api import scan
result = scan([sys.argv[1]], digests=False)
use = resource.getrusage(resource.RUSAGE_SELF)
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM:"))
except OSError:
    peak = use.ru_maxrss // 1024
print(peak, use.ru_utime + use.ru_stime, sorted({f.rule_id for f in result.findings}))
"""


@pytest.mark.parametrize("kind", ["memoised-lists", "memoised-strings"])
def test_memo_is_bounded_by_bytes(kind: str, tmp_path: Path) -> None:
    """Class 8: a pickle that memoises millions of values stays under 200 MB and 30 s (of CPU, so that a
    loaded machine does not decide)."""
    unit = b"]\x94" if kind == "memoised-lists" else b"\x8c\x20" + b"x" * 32 + b"\x94"
    body = unit * ((6 << 20) // len(unit))
    path = _write(tmp_path, "memo.pkl", b"\x80\x04" + body + b"N.")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", _MEMO_PROBE, str(path)], capture_output=True, text=True, env=env
    )
    rss_mb, seconds, rules = done.stdout.split(" ", 2)
    assert int(rss_mb) < 200 and float(seconds) < 30, done.stdout
    if kind == "memoised-lists":  # about 900 MB of memo held: stopped at its budget, which is a finding
        assert "MS-LIMIT-EXCEEDED" in rules


def test_recording_reads_a_forward_only_stream_again() -> None:
    from modelseal.core.streams import ByteSource, Recording

    data = bytes(range(256)) * 1000
    recording = Recording(ByteSource.from_bytes(data), max_bytes=1 << 20)
    first = ByteSource(recording)
    assert first.read(1000) == data[:1000]
    first.skip(5000)
    again = recording.again()
    assert again is not None
    assert again.read(3000) == data[:3000]
    again.skip(10_000)
    assert again.read(10) == data[13_000:13_010]  # past what the first reading took, from the source
    small = Recording(ByteSource.from_bytes(data), max_bytes=100)
    ByteSource(small).read(1000)
    assert small.again() is None


def test_seven_zip_members_list_their_imports(tmp_path: Path) -> None:
    """7z members are read like zip and tar members: the globals of every pickle inside, nested archives
    included, are among the file's imports, and the dangerous one is a finding."""
    py7zr = pytest.importorskip("py7zr")
    import collections
    import io

    from tests.scanners.craft import torch_zip

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as archive:
        archive.writestr(EVIL, "model.pkl")
        archive.writestr(torch_zip(pickle.dumps(collections.OrderedDict(a=1), protocol=2)), "sub/ckpt.pt")
    result = scan([_write(tmp_path, "models.7z", buf.getvalue())])
    report = result.targets[0].files[0]
    assert report.format == "7z"
    assert {"collections:OrderedDict"} <= set(report.imports)
    assert set(report.imports) & {f"{m}:{n}" for m, n in PAYLOAD}
    assert any(f.rule_id == "MS-PICKLE-DANGEROUS-CALLABLE" for f in result.findings)


def test_seven_zip_solid_block_members_are_read(tmp_path: Path) -> None:
    """In a solid 7z only the block's first member has a packed size; a large pickle after it is read (its
    imports listed, its call flagged), not called a bomb against a packed size of nothing."""
    py7zr = pytest.importorskip("py7zr")
    import io

    from modelseal.core.config import Config
    from modelseal.core.limits import Limits
    from tests.scanners.craft import HARMLESS, Reduce

    big = pickle.dumps([os.urandom(1 << 20), Reduce(os.system, HARMLESS)], protocol=2)
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as archive:
        archive.writestr(b"first member of the block", "readme.txt")
        archive.writestr(big, "model.pkl")
    config = Config(limits=Limits(bomb_min_bytes=1 << 19))
    result = scan([_write(tmp_path, "solid.7z", buf.getvalue())], config)
    rules = {f.rule_id for f in result.findings}
    assert "MS-ARCHIVE-BOMB" not in rules
    assert set(result.targets[0].files[0].imports) & {f"{m}:{n}" for m, n in PAYLOAD}
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in rules


def test_zip_after_other_content_is_scanned_contained(tmp_path: Path) -> None:
    """The polyglot check reads a zip found behind other content with the same containment as dispatch: a
    damaged member is a finding there too, never an exception out of the scan."""
    from tests.scanners.soundness import zip_member_without_name

    result = scan(
        [_write(tmp_path, "poly.bin", b"\x00\x01\x02 not a known format\n" + zip_member_without_name())]
    )
    report = result.targets[0].files[0]
    assert any(f.rule_id == "MS-POLYGLOT" for f in result.findings)
    assert set(report.imports) & {f"{m}:{n}" for m, n in PAYLOAD}
