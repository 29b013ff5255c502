"""Requirement files shipped with a model: what ``pip install -r`` would fetch to run it.

Three risks: versions that float (what gets installed changes under you), names one typo away from a
popular package (typosquatting), and sources other than the registry (URLs, VCS, extra indexes that enable
dependency confusion).
"""

from __future__ import annotations

import posixpath
import re

from rapidfuzz.distance import OSA

from modelseal.core.artifact import Artifact
from modelseal.core.findings import Finding
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ArtifactScanner, ScanContext
from modelseal.scanners.repofiles import analyse_texts

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
SOURCE_OPTIONS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
MAX_FINDINGS = 40


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lookalike(name: str) -> str | None:
    """The popular package ``name`` imitates, if it is one or two edits away (one for short names)."""
    norm = normalise(name)
    if norm in POPULAR or norm in KNOWN_NEIGHBOURS or len(norm) < 4:
        return None
    flat = norm.replace("-", "")
    for popular in sorted(POPULAR):
        allowed = 1 if len(popular) <= 6 else 2
        near = OSA.distance(norm, popular, score_cutoff=allowed) <= allowed  # swaps count as one edit
        if near or (flat == popular.replace("-", "") and norm != popular):
            return popular
    return None


def requirement_findings(text: str, relpath: str) -> list[Finding]:
    out: list[Finding] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or len(out) >= MAX_FINDINGS:
            continue
        where = f"{relpath}:{number}"
        option = line.split()[0].split("=", 1)[0]
        if option in SOURCE_OPTIONS:
            out.append(
                make_finding(
                    "MS-REQ-SOURCE",
                    f"{where}: installs from another index ({option})",
                    file=relpath,
                    evidence=line[:200],
                )
            )
            continue
        if line.startswith(("-r", "--requirement", "-c", "--constraint")):
            continue
        if re.search(r"(^|[\s@])(git\+|hg\+|svn\+|bzr\+|https?://|file:)", line.removeprefix("-e").strip()):
            out.append(
                make_finding(
                    "MS-REQ-SOURCE",
                    f"{where}: installs from a URL or VCS, not the registry",
                    file=relpath,
                    evidence=line[:200],
                )
            )
            continue
        m = _NAME.match(line.removeprefix("-e").strip())
        if not m or line.startswith("-"):
            continue
        name, spec = m.group(1), m.group(3)
        target = lookalike(name)
        if target:
            out.append(
                make_finding(
                    "MS-REQ-LOOKALIKE",
                    f"{where}: {name!r} looks like the popular package {target!r}",
                    file=relpath,
                    evidence=line[:200],
                )
            )
        if not re.search(r"===?\s*[\w.]+", spec.split(";", 1)[0]) or "*" in spec:
            out.append(
                make_finding(
                    "MS-REQ-UNPINNED",
                    f"{where}: {name} is not pinned to one version",
                    file=relpath,
                    evidence=line[:200],
                )
            )
    return out


def is_requirements_file(relpath: str) -> bool:
    base = posixpath.basename(relpath).lower()
    return (base.startswith("requirements") and base.endswith((".txt", ".in"))) or base == "constraints.txt"


class RequirementsScanner(ArtifactScanner):
    name = "requirements"

    def scan_artifact(self, artifact: Artifact, ctx: ScanContext) -> tuple[Finding, ...]:
        return analyse_texts(
            artifact, ctx.limits, is_requirements_file, "MS-TOKENIZER-MALFORMED", requirement_findings
        )
