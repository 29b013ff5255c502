"""Requirement files read as pip reads them: generated files are parsed by pip's own line grammar (in a
subprocess, per line, following -r includes itself) and by the scanner; every requirement, index option
and include that pip acts on must be seen by the scanner, and every line pip rejects must be a finding."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from modelseal.core.findings import Severity
from modelseal.scanners import requirements
from tests.formats.helpers import assert_flagged, findings

pytest.importorskip("pip_requirements_parser")

_PIP = r"""
import json, sys
from pip._internal.req import req_file as rf
from pip._internal.req.constructors import install_req_from_parsed_requirement
from pip._internal.utils.encoding import auto_decode

out = {}
for path in json.loads(sys.argv[1]):
    with open(path, "rb") as fh:
        content = auto_decode(fh.read())
    parse_line = rf.get_line_parser(None)
    rows = out[path] = []
    for lineno, line in rf.preprocess(content):
        try:
            args, opts = parse_line(line)
        except BaseException as exc:  # optparse exits on errors
            rows.append([lineno, "error", type(exc).__name__])
            continue
        parsed = rf.ParsedLine(path, lineno, args, opts, False)
        if parsed.is_requirement:
            try:
                ireq = install_req_from_parsed_requirement(rf.handle_requirement_line(parsed))
                rows.append([lineno, "req", ireq.name, ireq.link.url if ireq.link else None, ireq.editable])
            except BaseException as exc:
                rows.append([lineno, "error", type(exc).__name__])
            continue
        for key in ("index_url", "extra_index_urls", "find_links", "trusted_hosts",
                    "requirements", "constraints"):
            value = getattr(opts, key, None)
            for v in (value if isinstance(value, list) else [value] if value else []):
                rows.append([lineno, key, v])
json.dump(out, sys.stdout)
"""
SCANNER_KEYS = {
    "--index-url": "index_url",
    "--extra-index-url": "extra_index_urls",
    "--find-links": "find_links",
    "--trusted-host": "trusted_hosts",
    "-r": "requirements",
    "-c": "constraints",
}

NAMES = [
    "torch==2.3.1",
    "numpy",
    "requests[socks]>=2.31",
    "transfomers==4.44.0",
    "Pillow ~= 10.0",
    "tqdm===4.66.1",
]
SUFFIXES = [
    "",
    " ; python_version >= '3.8'",
    " # tested",
    "#not-a-comment",
    " \\\n    --hash=sha256:" + "a" * 64,
    " --hash=sha256:" + "b" * 64 + " --hash=sha256:" + "c" * 64,
]
LINES = [
    "-i https://pypi.example/simple",
    "--index-url=https://pypi.example/simple",
    "--index-url \\\nhttps://pypi.example/simple",
    "--extra-index-url https://mirror.example/simple",
    "-f ./wheels",
    "--find-links=https://files.example/",
    "--trusted-host files.example",
    "-r other.txt",
    "--requirement=other.txt",
    "-c constraints.txt",
    "-e git+https://example.com/org/pkg.git@v1#egg=pkg",
    "-e ./local_pkg",
    "git+https://example.com/org/pkg.git#egg=pkg",
    "pkg @ https://files.example/pkg-1.0-py3-none-any.whl",
    "https://files.example/pkg-1.0.tar.gz#egg=pkg",
    "./local_pkg",
    "--pre",
    "--no-binary :all:",
    "--prefer-binary",
    "--require-hashes",
    "--unknown-option x",
    "torch==2.3.1 --index-url https://pypi.example/simple",
    "not a requirement !!",
    "# a comment line",
    "",
    "   \t",
    "numpy==1.26.4\t# tab comment",
]


def _files(count: int, seed: int = 14) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        lines = []
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.5:
                lines.append(rng.choice(NAMES) + rng.choice(SUFFIXES))
            else:
                lines.append(rng.choice(LINES))
        out.append("\n".join(lines) + ("\n" if rng.random() < 0.8 else ""))
    return out


def _pip_rows(paths: list[Path], cwd: Path) -> dict[str, list[list[object]]]:
    done = subprocess.run(
        [sys.executable, "-c", _PIP, json.dumps([str(p) for p in paths])],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=cwd,
    )
    rows: dict[str, list[list[object]]] = json.loads(done.stdout)
    return rows


def _divergences(pip_rows: list[list[object]], parsed: requirements.ParsedFile) -> list[str]:
    """What pip acts on that the scanner neither saw the same way nor reported."""
    flagged = {line for line, _, _ in parsed.invalid}
    by_line = {r.line: r for r in parsed.requirements}
    options = {(line, SCANNER_KEYS[opt], value) for line, opt, value in (*parsed.sources, *parsed.includes)}
    out = []
    for row in pip_rows:
        line, kind = int(str(row[0])), row[1]
        req = by_line.get(line)
        if kind == "error" or (kind == "req" and row[3] is not None):
            ok = line in flagged or (req is not None and req.link is not None)
        elif kind == "req":
            ok = line in flagged or (
                req is not None
                and req.link is None
                and requirements.normalise(req.name or "") == requirements.normalise(str(row[2]))
            )
        else:
            ok = (line, kind, row[2]) in options or line in flagged
        if not ok:
            out.append(f"line {line}: pip {row[1:]} / scanner {req}")
    return out


def test_scanner_reads_requirements_as_pip_does(tmp_path: Path) -> None:
    texts = _files(300)
    paths = []
    for i, text in enumerate(texts):
        path = tmp_path / f"requirements-{i}.txt"
        path.write_text(text)
        paths.append(path)
    rows = _pip_rows(paths, tmp_path)
    diverging = {}
    for path in paths:
        found = _divergences(rows[str(path)], requirements.parse_requirements_file(str(path)))
        if found:
            diverging[path.read_text()] = found
    assert sum(len(r) for r in rows.values()) > 600
    assert not diverging, list(diverging.items())[:5]


# -- the repository view: includes, pyproject.toml and what Python or pip runs by itself ------------------
def test_include_outside_the_repository(repo: Path) -> None:
    (repo / "requirements.txt").write_text("torch==2.3.1\n-r ../../shared/requirements.txt\n")
    hits = assert_flagged(repo, "MS-REQ-SOURCE")
    assert "outside the repository" in hits[0].message


def test_include_is_followed_inside_the_repository(repo: Path) -> None:
    (repo / "requirements.txt").write_text("torch==2.3.1\n-r extra/deps.txt\n")
    (repo / "extra").mkdir()
    (repo / "extra" / "deps.txt").write_text("--extra-index-url https://pypi.example/simple\nnumpy==1.26.4\n")
    hits = assert_flagged(repo, "MS-REQ-SOURCE")
    assert hits[0].file == "extra/deps.txt"


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("--find-links=https://files.example/", "MS-REQ-SOURCE"),
        ("./vendor/tokenizers", "MS-REQ-SOURCE"),
        ("-e ./vendor/tokenizers", "MS-REQ-SOURCE"),
        ("transformers @ https://files.example/transformers-4.44.0-py3-none-any.whl", "MS-REQ-SOURCE"),
    ],
)
def test_requirement_forms_pip_accepts(repo: Path, line: str, rule: str) -> None:
    (repo / "requirements.txt").write_text(f"torch==2.3.1\n{line}\n")
    assert_flagged(repo, rule)


def test_lines_pip_reads_otherwise_are_findings(repo: Path) -> None:
    # An unknown option, a URL from the environment, an index option pip ignores on a requirement line.
    (repo / "requirements.txt").write_text(
        "torch==2.3.1\n--no-such-option x\ntorch @ ${MIRROR}/torch.whl\n"
        "numpy==1.26.4 \\\n  --index-url https://pypi.example/simple\n"
    )
    hits = [f for f in findings(repo) if f.rule_id == "MS-REQ-UNPARSEABLE"]
    assert {h.message.split(":")[1] for h in hits} == {"2", "3", "4"}
    assert all(h.severity == Severity.MEDIUM for h in hits)


def test_pyproject_requirements(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68", "numpyy==1.26.4"]\n'
        'build-backend = "setuptools.build_meta"\n'
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["helper @ git+https://example.com/h.git"]\n'
    )
    found = findings(repo)
    assert {"MS-REQ-LOOKALIKE", "MS-REQ-SOURCE"} <= {f.rule_id for f in found if f.severity >= Severity.HIGH}


@pytest.mark.parametrize(
    ("relpath", "content", "rule", "severity"),
    [
        ("evil.pth", "import os; os.system('echo modelseal')\n", "MS-REPO-INSTALL-CODE", Severity.HIGH),
        ("sitecustomize.py", "x = 1\n", "MS-REPO-INSTALL-CODE", Severity.HIGH),
        ("usercustomize.py", "x = 1\n", "MS-REPO-INSTALL-CODE", Severity.HIGH),
        (
            "pyproject.toml",
            '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
            "MS-REPO-INSTALL-CODE",
            Severity.HIGH,
        ),
        (
            "setup.py",
            "from setuptools import setup\nsetup(name='x')\n",
            "MS-REPO-INSTALL-CODE",
            Severity.MEDIUM,
        ),
        ("__pycache__/modeling_x.cpython-311.pyc", None, "MS-PYCODE-COMPILED", Severity.HIGH),
    ],
)
def test_files_python_or_pip_run_by_themselves(
    repo: Path, relpath: str, content: str | None, rule: str, severity: Severity
) -> None:
    target = repo / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        import importlib.util
        import marshal

        code = compile("x = 1\n", "modeling_x.py", "exec")
        target.write_bytes(importlib.util.MAGIC_NUMBER + b"\x00" * 12 + marshal.dumps(code))
    else:
        target.write_text(content)
    hits = [f for f in findings(repo) if f.rule_id == rule and f.file == relpath]
    assert hits and max(h.severity for h in hits) == severity, [(h.message, h.severity) for h in hits]


def test_plain_pth_is_low(repo: Path) -> None:
    (repo / "paths.pth").write_text("vendor\n")
    hits = [f for f in findings(repo) if f.rule_id == "MS-REPO-INSTALL-CODE"]
    assert [h.severity for h in hits] == [Severity.LOW]


def test_lines_pip_refuses_are_low_but_keep_their_name_checked(repo: Path) -> None:
    # pip installs "transfomers" from this line although the parser refuses it; "more text" pip refuses.
    (repo / "requirements.txt").write_text("torch==2.3.1\ntransfomers==4.44.0#pinned\nmore text\n")
    found = findings(repo)
    assert [f.severity for f in found if f.rule_id == "MS-REQ-UNPARSEABLE"] == [Severity.LOW, Severity.LOW]
    assert any(f.rule_id == "MS-REQ-LOOKALIKE" and "transfomers" in f.message for f in found)


def test_a_checkpoint_named_pth_is_not_a_path_file(repo: Path) -> None:
    # torch.save users name checkpoints .pth (rng_state.pth in every Trainer folder): site runs none of it.
    import zipfile

    with zipfile.ZipFile(repo / "rng_state.pth", "w") as zf:
        zf.writestr("rng_state/data.pkl", b"\x80\x02}q\x00.")
        zf.writestr("rng_state/data/0", bytes(range(256)) * 4)
    assert not [f for f in findings(repo) if f.rule_id == "MS-REPO-INSTALL-CODE"]


def test_a_binary_pth_with_an_import_line_is_still_code(repo: Path) -> None:
    # A locale that decodes any byte (latin-1) lets site run this line: the bytes decide, not UTF-8.
    (repo / "weights.pth").write_bytes(b"\x80\xff\x00binary\nimport os; os.system('echo modelseal')\n\x00")
    hits = [f for f in findings(repo) if f.rule_id == "MS-REPO-INSTALL-CODE"]
    assert [h.severity for h in hits] == [Severity.HIGH]
    assert "weights.pth:2" in hits[0].message
