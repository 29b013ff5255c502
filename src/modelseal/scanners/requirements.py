"""Requirement files shipped with a model: what ``pip install -r`` would fetch to run it, read as pip reads
them (its option grammar, continuations, markers, editable, direct and VCS references; ``-r``/``-c``
includes followed inside the repository), and the dependencies of a ``pyproject.toml``.

Risks: versions that float (what gets installed changes under you), names one typo away from a popular
package (typosquatting), sources other than the registry (URLs, VCS, local paths whose build code runs,
extra indexes that enable dependency confusion), and lines pip would read otherwise than the scanner.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.findings import Finding, Severity
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ArtifactScanner, ScanContext
from modelseal.scanners.repofiles import read_text, read_toml, unsafe_member_name

# Packages a model repository commonly requires: the names squatters imitate.
POPULAR = frozenset(
    {
        "torch",
        "torchvision",
        "torchaudio",
        "transformers",
        "tokenizers",
        "safetensors",
        "accelerate",
        "datasets",
        "numpy",
        "scipy",
        "pandas",
        "requests",
        "urllib3",
        "sentencepiece",
        "protobuf",
        "einops",
        "huggingface-hub",
        "diffusers",
        "peft",
        "bitsandbytes",
        "tensorflow",
        "keras",
        "onnx",
        "onnxruntime",
        "scikit-learn",
        "pillow",
        "opencv-python",
        "tqdm",
        "pyyaml",
        "regex",
        "tiktoken",
        "xformers",
        "flash-attn",
        "triton",
        "timm",
        "sentence-transformers",
        "openai",
        "langchain",
        "matplotlib",
        "setuptools",
        "boto3",
        "packaging",
        "filelock",
        "fsspec",
        "aiohttp",
        "fastapi",
        "pydantic",
        "click",
        "jinja2",
        "lightning",
        "pytorch-lightning",
        "deepspeed",
        "vllm",
        "optimum",
        "evaluate",
        "gradio",
        "streamlit",
        "nltk",
        "spacy",
        "gensim",
        "xgboost",
        "lightgbm",
        "catboost",
        "colorama",
        "cryptography",
        "certifi",
        "idna",
        "charset-normalizer",
        "typing-extensions",
    }
)
# Real packages whose names are close to a popular one.
KNOWN_NEIGHBOURS = frozenset(
    {
        "torchx",
        "tensorflow-cpu",
        "tensorflow-gpu",
        "onnxruntime-gpu",
        "tf-keras",
        "opencv-python-headless",
        "opencv-contrib-python",
        "pytorch-lightning",
        "pydantic-core",
        "jaxlib",
        "nltk-data",
        "timm",
        "numba",
        "pandas-stubs",
        "scipy-stubs",
    }
)
# pip options that choose where packages come from, as pip-requirements-parser names them.
SOURCE_OPTIONS = {
    "index_url": "--index-url",
    "extra_index_urls": "--extra-index-url",
    "find_links": "--find-links",
    "trusted_hosts": "--trusted-host",
}
INCLUDE_OPTIONS = {"requirements": "-r", "constraints": "-c"}
URL_SCHEMES = ("http://", "https://", "ftp://", "file:")
VCS_SCHEMES = ("git+", "hg+", "svn+", "bzr+")
_URL_IN_LINE = re.compile(r"(^|[\s@=])(git\+|hg\+|svn\+|bzr\+|https?://|ftp://|file:)", re.IGNORECASE)
_LEADING_NAME = re.compile(r"^\s*(?:-e\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)")
_ENV_VARIABLE = re.compile(r"\$\{[A-Z0-9_]+\}")
MAX_FINDINGS = 40
MAX_INCLUDE_DEPTH = 8


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lookalike(name: str) -> str | None:
    """The popular package ``name`` imitates, if it is one or two edits away (one for short names)."""
    norm = normalise(name)
    if norm in POPULAR or norm in KNOWN_NEIGHBOURS or len(norm) < 4:
        return None
    from rapidfuzz.distance import OSA  # ~18 ms to import: only scans with requirement names pay it

    flat = norm.replace("-", "")
    for popular in sorted(POPULAR):
        allowed = 1 if len(popular) <= 6 else 2
        near = OSA.distance(norm, popular, score_cutoff=allowed) <= allowed  # swaps count as one edit
        if near or (flat == popular.replace("-", "") and norm != popular):
            return popular
    return None


@dataclass(frozen=True)
class Requirement:
    """One requirement as pip reads it."""

    line: int
    text: str
    name: str | None
    link: str | None
    editable: bool
    pinned: bool


@dataclass(frozen=True)
class ParsedFile:
    """A requirements file as pip reads it: requirements, source options, includes and rejected lines,
    each with its line number."""

    requirements: tuple[Requirement, ...] = ()
    sources: tuple[tuple[int, str, str], ...] = ()
    """(line, pip option, value)."""
    includes: tuple[tuple[int, str, str], ...] = ()
    """(line, ``-r`` or ``-c``, target as written)."""
    invalid: tuple[tuple[int, str, str], ...] = ()
    """(line, text, why pip would reject or misread it)."""


def parse_requirements_file(path: str) -> ParsedFile:
    """Parse with pip-requirements-parser (pip's own requirement-file grammar: options, continuations,
    comments, markers, hashes, editable and direct references), never following includes or the network."""
    from pip_requirements_parser import RequirementsFile  # the parser is only imported when needed

    parsed = RequirementsFile.from_file(path, include_nested=False)
    sources: list[tuple[int, str, str]] = []
    includes: list[tuple[int, str, str]] = []
    for option in parsed.options:
        for key, value in option.options.items():
            values = value if isinstance(value, list) else [value]
            if key in SOURCE_OPTIONS:
                sources += [(option.line_number, SOURCE_OPTIONS[key], str(v)) for v in values]
            elif key in INCLUDE_OPTIONS:
                includes += [(option.line_number, INCLUDE_OPTIONS[key], str(v)) for v in values]
    requirements = tuple(
        Requirement(
            r.line_number,
            r.line or "",
            r.name,
            r.link.url if r.link is not None else None,
            bool(r.is_editable),
            bool(r.is_pinned),
        )
        for r in parsed.requirements
    )
    invalid = tuple((i.line_number, i.line or "", i.error_message or "") for i in parsed.invalid_lines)
    return ParsedFile(requirements, tuple(sources), tuple(includes), invalid)


def _finding(rule: str, relpath: str, message: str, evidence: str) -> Finding:
    return make_finding(rule, message, file=relpath, evidence=evidence[:200])


def _source_kind(link: str) -> str:
    lowered = link.lower()
    if lowered.startswith(VCS_SCHEMES):
        return "a VCS repository"
    if lowered.startswith(URL_SCHEMES):
        return "a URL"
    return "a local path (pip runs its build code)"


def name_findings(name: str, where: str, relpath: str, text: str) -> list[Finding]:
    target = lookalike(name)
    if not target:
        return []
    return [
        _finding(
            "MS-REQ-LOOKALIKE",
            relpath,
            f"{where}: {name!r} looks like the popular package {target!r}",
            text,
        )
    ]


def _requirement_findings(req: Requirement, relpath: str) -> list[Finding]:
    where = f"{relpath}:{req.line}"
    out: list[Finding] = []
    if _ENV_VARIABLE.search(req.text):
        out.append(
            _finding(
                "MS-REQ-UNPARSEABLE",
                relpath,
                f"{where}: pip fills this line from environment variables",
                req.text,
            )
        )
    if req.link:
        out.append(
            _finding(
                "MS-REQ-SOURCE",
                relpath,
                f"{where}: installs from {_source_kind(req.link)}, not the registry",
                req.text,
            )
        )
    if req.name:
        out += name_findings(req.name, where, relpath, req.text)
        if not req.link and not req.pinned:
            out.append(
                _finding(
                    "MS-REQ-UNPINNED",
                    relpath,
                    f"{where}: {req.name} is not pinned to one version",
                    req.text,
                )
            )
    return out


def _invalid_line_findings(where: str, relpath: str, text: str, why: str) -> list[Finding]:
    """A line the parser rejects. pip refuses most of them, and then installs nothing (low); but an option
    this parser does not know, or an index option on a requirement line, pip may accept or ignore (medium).
    pip also accepts some lines this parser refuses (``name==1.0#text``): the name and any URL on the line
    are still checked."""
    unknown = "no such option" in why or "global options" in why or bool(_ENV_VARIABLE.search(text))
    severity = Severity.MEDIUM if unknown else Severity.LOW
    out = [
        make_finding(
            "MS-REQ-UNPARSEABLE",
            f"{where}: pip rejects or reads this line otherwise: {why}"[:300],
            severity=severity,
            file=relpath,
            evidence=text[:200],
        )
    ]
    if _URL_IN_LINE.search(text):
        out.append(_finding("MS-REQ-SOURCE", relpath, f"{where}: names a URL or VCS source", text))
    name = _LEADING_NAME.match(text)
    if name:
        out += name_findings(name.group(1), where, relpath, text)
    return out


def _include_target(relpath: str, target: str) -> tuple[str | None, str]:
    """The repository path an include names, or ``None`` and why pip would read something else."""
    if target.lower().startswith(URL_SCHEMES):
        return None, "from a URL"
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(relpath), target.replace("\\", "/")))
    if target.startswith(("/", "\\")) or unsafe_member_name(joined):
        return None, "from outside the repository"
    return joined, ""


def requirement_findings(
    parsed: ParsedFile, relpath: str, files: set[str]
) -> tuple[list[Finding], list[str]]:
    """Findings for one parsed file, and the repository files it includes (to be read in turn)."""
    out: list[Finding] = []
    included: list[str] = []
    for line, option, value in parsed.sources:
        out.append(
            _finding(
                "MS-REQ-SOURCE",
                relpath,
                f"{relpath}:{line}: installs from another index or location ({option} {value[:80]})",
                f"{option} {value}",
            )
        )
    for line, option, value in parsed.includes:
        path, why = _include_target(relpath, value)
        if path is None:
            out.append(
                _finding(
                    "MS-REQ-SOURCE",
                    relpath,
                    f"{relpath}:{line}: {option} reads requirements {why}",
                    f"{option} {value}",
                )
            )
        elif path not in files:
            out.append(
                _finding(
                    "MS-REQ-UNPARSEABLE",
                    relpath,
                    f"{relpath}:{line}: {option} names {path}, which is not in the repository",
                    f"{option} {value}",
                )
            )
        else:
            included.append(path)
    for line, text, why in parsed.invalid:
        out += _invalid_line_findings(f"{relpath}:{line}", relpath, text, why)
    for req in parsed.requirements:
        out += _requirement_findings(req, relpath)
    return out[:MAX_FINDINGS], included


def is_requirements_file(relpath: str) -> bool:
    base = posixpath.basename(relpath).lower()
    return (base.startswith("requirements") and base.endswith((".txt", ".in"))) or base == "constraints.txt"


class RequirementsScanner(ArtifactScanner):
    name = "requirements"

    def scan_artifact(self, artifact: Artifact, ctx: ScanContext) -> tuple[Finding, ...]:
        entries = {e.relpath: e for e in artifact.files}
        todo = [(p, 0) for p in entries if is_requirements_file(p)]
        done: set[str] = set()
        out: list[Finding] = []
        while todo:
            relpath, depth = todo.pop(0)
            if relpath in done or depth > MAX_INCLUDE_DEPTH:
                continue
            done.add(relpath)
            entry = entries[relpath]
            text, problems = read_text(entry, ctx.limits, "MS-REQ-UNPARSEABLE")
            out.extend(problems)
            if text is None:
                continue
            try:
                parsed = parse_requirements_file(str(entry.path))
            except Exception as exc:  # the parser's errors on hostile input: fail closed
                out.append(
                    make_finding(
                        "MS-REQ-UNPARSEABLE",
                        f"{relpath} cannot be parsed as pip parses it: {type(exc).__name__}: {exc}"[:300],
                        file=relpath,
                    )
                )
                continue
            found, included = requirement_findings(parsed, relpath, set(entries))
            out.extend(found)
            todo += [(p, depth + 1) for p in included]
        for entry in artifact.files:
            if posixpath.basename(entry.relpath) == "pyproject.toml":
                out.extend(pyproject_findings(entry, ctx))
        return tuple(out)


def pyproject_findings(entry: FileEntry, ctx: ScanContext) -> list[Finding]:
    """Build requirements and dependencies of a ``pyproject.toml``: what ``pip install`` of the folder
    fetches (the build requirements before anything else)."""
    doc, findings = read_toml(entry, ctx.limits)
    if doc is None:
        return findings
    build = doc.get("build-system")
    project = doc.get("project")
    groups: list[tuple[str, Any]] = [
        ("build-system.requires", build.get("requires") if isinstance(build, dict) else None),
        ("project.dependencies", project.get("dependencies") if isinstance(project, dict) else None),
    ]
    optional = project.get("optional-dependencies") if isinstance(project, dict) else None
    if isinstance(optional, dict):
        groups += [(f"project.optional-dependencies.{k}", v) for k, v in optional.items()]
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Pep508

    out: list[Finding] = []
    for label, values in groups:
        for text in values if isinstance(values, list) else []:
            where = f"{entry.relpath} {label}"
            try:
                req = Pep508(str(text))
            except InvalidRequirement as exc:
                out.append(
                    make_finding(
                        "MS-REQ-UNPARSEABLE",
                        f"{where}: {str(text)[:80]!r} is not a valid requirement: {exc}"[:300],
                        file=entry.relpath,
                    )
                )
                continue
            if req.url:
                out.append(
                    _finding(
                        "MS-REQ-SOURCE",
                        entry.relpath,
                        f"{where}: {req.name} installs from {_source_kind(req.url)}, not the registry",
                        str(text),
                    )
                )
            out += name_findings(req.name, where, entry.relpath, str(text))
    return out[:MAX_FINDINGS]
