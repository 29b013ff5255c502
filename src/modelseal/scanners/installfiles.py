"""Files that run code without being imported by name: what Python executes from a folder on its path and
what pip executes when the folder is installed.

``site`` executes every line of a ``.pth`` file that starts with ``import`` and imports ``sitecustomize`` and
``usercustomize`` at start-up; importing the folder as a package runs its ``__init__.py``; ``pip install``
runs ``setup.py`` or the build backend named in ``pyproject.toml`` (from the repository itself when
``backend-path`` points there; ``setup.cfg`` ``attr:`` directives import modules). A ``.pyc`` file is code
the scanner cannot read: Python runs one without its source, and an unchecked hash-based one instead of
its source. The ``.py`` files themselves are analysed by :mod:`.pycode`.
"""

from __future__ import annotations

import mmap
import posixpath
import re

from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.findings import Finding, Severity
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ArtifactScanner, ScanContext
from modelseal.scanners.repofiles import read_toml

STARTUP_MODULES = frozenset({"sitecustomize.py", "usercustomize.py"})
PTH_EXEC_PREFIXES = ("import ", "import\t")
"""What ``site.addpackage`` executes (the line as is)."""
PYC_HEADER = 16
UNCHECKED_HASH = 0b01
"""PEP 552 flags: hash-based, source not checked: Python runs the bytecode even when the source differs."""


_IMPORT_LINE = re.compile(rb"(?m)^import[ \t][^\r\n]{0,200}")


def _pth(entry: FileEntry) -> list[Finding]:
    """``site`` decodes a ``.pth`` file as text and runs its ``import`` lines; the lines are looked for in
    the bytes (what any ASCII-compatible decoding sees), so a binary file is judged by the same lines. A
    binary ``.pth`` without such a line is a checkpoint (``torch.save`` users pick the name): site runs none
    of it, and its format's own scanner judges it."""
    try:
        with open(entry.path, "rb") as fh:
            head, found = fh.read(8192), None
            if head:
                with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
                    match = _IMPORT_LINE.search(view)  # type: ignore[call-overload]
                    if match is not None:
                        found = (view[: match.start()].count(b"\n") + 1, bytes(match.group()))
    except (OSError, ValueError) as exc:
        return [make_finding("MS-FILE-UNREADABLE", f"cannot read {entry.relpath}: {exc}", file=entry.relpath)]
    if found is not None:
        line, text = found
        return [
            make_finding(
                "MS-REPO-INSTALL-CODE",
                f"{entry.relpath}:{line}: a .pth file with import lines: Python runs them at start-up "
                "from a folder on its path",
                file=entry.relpath,
                evidence=text.decode("utf-8", "backslashreplace"),
            )
        ]
    if b"\0" in head:
        return []
    return [
        make_finding(
            "MS-REPO-INSTALL-CODE",
            f"{entry.relpath}: a .pth file adds folders to Python's path",
            severity=Severity.LOW,
            file=entry.relpath,
        )
    ]


def _pyproject(entry: FileEntry, ctx: ScanContext) -> list[Finding]:
    doc, findings = read_toml(entry, ctx.limits)
    build = doc.get("build-system") if doc is not None else None
    if not isinstance(build, dict):
        return findings
    backend_path = build.get("backend-path")
    if backend_path:
        return [
            make_finding(
                "MS-REPO-INSTALL-CODE",
                f"{entry.relpath}: pip install runs the build backend "
                f"{str(build.get('build-backend'))[:80]!r} from the repository itself (backend-path)",
                file=entry.relpath,
                evidence=str(backend_path)[:200],
            )
        ]
    return [
        make_finding(
            "MS-REPO-INSTALL-CODE",
            f"{entry.relpath}: the repository is an installable Python package; pip install runs its build",
            severity=Severity.MEDIUM,
            file=entry.relpath,
        )
    ]


def _pyc(entry: FileEntry, files: set[str]) -> Finding:
    source = _source_of(entry.relpath)
    header = b""
    try:
        with open(entry.path, "rb") as fh:
            header = fh.read(PYC_HEADER)
    except OSError:
        pass
    flags = int.from_bytes(header[4:8], "little") if len(header) >= 8 else 0
    if source in files and flags != UNCHECKED_HASH:
        message = f"{entry.relpath}: compiled code beside its source {source}; Python may run it instead"
        severity = Severity.MEDIUM
    else:
        why = "with no source" if source not in files else "that Python runs without checking its source"
        message = f"{entry.relpath}: compiled Python code {why}; it cannot be analysed"
        severity = Severity.HIGH
    return make_finding("MS-PYCODE-COMPILED", message, severity=severity, file=entry.relpath)


def _source_of(relpath: str) -> str:
    """``pkg/__pycache__/mod.cpython-311.pyc`` → ``pkg/mod.py``; ``pkg/mod.pyc`` → ``pkg/mod.py``."""
    folder, base = posixpath.split(relpath)
    stem = base.rsplit(".", 1)[0]
    if posixpath.basename(folder) == "__pycache__":
        folder = posixpath.dirname(folder)
        stem = stem.split(".", 1)[0]
    return posixpath.join(folder, stem + ".py")


class InstallFilesScanner(ArtifactScanner):
    name = "install-files"

    def scan_artifact(self, artifact: Artifact, ctx: ScanContext) -> tuple[Finding, ...]:
        files = {e.relpath for e in artifact.files}
        out: list[Finding] = []
        for entry in artifact.files:
            base = posixpath.basename(entry.relpath)
            if base.endswith(".pth"):
                out.extend(_pth(entry))
            elif base in STARTUP_MODULES:
                out.append(
                    make_finding(
                        "MS-REPO-INSTALL-CODE",
                        f"{entry.relpath}: Python imports {base[:-3]} at start-up when the folder is "
                        "on its path",
                        file=entry.relpath,
                    )
                )
            elif base in ("setup.py", "setup.cfg"):
                out.append(
                    make_finding(
                        "MS-REPO-INSTALL-CODE",
                        f"{entry.relpath}: pip install of this folder runs {base} (setuptools)",
                        severity=Severity.MEDIUM,
                        file=entry.relpath,
                    )
                )
            elif base == "pyproject.toml":
                out.extend(_pyproject(entry, ctx))
            elif entry.relpath == "__init__.py":
                out.append(
                    make_finding(
                        "MS-REPO-INSTALL-CODE",
                        "__init__.py: the folder is a Python package; importing it runs this file",
                        severity=Severity.LOW,
                        file=entry.relpath,
                    )
                )
            elif base.endswith((".pyc", ".pyo")):
                out.append(_pyc(entry, files))
        return tuple(out)
