"""The libraries that load and serve models, where they are found, and which advisories affect them.

Versions come from the running environment (``importlib.metadata``, or the ``site-packages`` folders named),
from a repository's requirements and lock files (exact pins only: a range has no one version to check), or
from whatever the caller lists. Matching against the cache evaluates ranges with ``packaging``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelseal.advisories.cache import AdvisoryCache, Hit
from modelseal.advisories.osv import canonical
from modelseal.advisories.ranges import affects, fixed_versions

LOADER_LIBRARIES = frozenset(
    canonical(n)
    for n in (
        "torch",
        "transformers",
        "keras",
        "tf-keras",
        "tensorflow",
        "tensorflow-cpu",
        "onnx",
        "onnxruntime",
        "onnxruntime-gpu",
        "safetensors",
        "joblib",
        "numpy",
        "scikit-learn",
        "diffusers",
        "sentence-transformers",
        "vllm",
        "llama-cpp-python",
        "huggingface-hub",
        "accelerate",
        "peft",
        "timm",
        "pandas",
        "dill",
        "cloudpickle",
        "mlflow",
        "bentoml",
        "gguf",
        "tokenizers",
        "torchvision",
        "jax",
        "flax",
        "paddlepaddle",
        "xgboost",
        "lightgbm",
        "catboost",
        "spacy",
        "fastai",
        "optimum",
        "text-generation",
        "ray",
    )
)
"""Packages whose vulnerabilities reach model loading or serving (PEP 503 names)."""

LOCK_FILES = ("requirements.txt", "requirements.lock", "poetry.lock", "uv.lock", "pdm.lock", "Pipfile.lock")


@dataclass(frozen=True)
class Installed:
    """One package at one version, and where that was read."""

    name: str
    version: str
    where: str


@dataclass(frozen=True)
class PackageHit:
    package: Installed
    advisory: Hit
    fixed: tuple[str, ...]


def environment_packages(paths: Sequence[str] | None = None) -> list[Installed]:
    """Loader libraries installed in the running interpreter (or in the ``site-packages`` folders given)."""
    from importlib.metadata import distributions

    found: dict[str, Installed] = {}
    for dist in distributions() if paths is None else distributions(path=list(paths)):
        name = canonical(dist.metadata["Name"] or "")
        if name in LOADER_LIBRARIES and name not in found:
            found[name] = Installed(name, dist.version, "environment")
    return sorted(found.values(), key=lambda p: p.name)


def requirement_packages(path: Path) -> list[Installed]:
    """Exactly pinned loader libraries in a requirements file, ``poetry.lock``/``uv.lock``/``pdm.lock`` or
    ``Pipfile.lock``. Unreadable files give nothing (the scanners report malformed requirements)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    if path.name == "Pipfile.lock":
        pairs = _pipfile_lock(text)
    elif path.suffix == ".lock" and path.name != "requirements.lock":
        pairs = _toml_lock(text)
    else:
        pairs = _requirements(text)
    where = str(path)
    return [Installed(canonical(n), v, where) for n, v in pairs if canonical(n) in LOADER_LIBRARIES]


def repository_packages(root: Path) -> list[Installed]:
    """Pins in the requirements and lock files at the top of a repository (``requirements*.txt`` too)."""
    files = sorted({*root.glob("requirements*.txt"), *(root / n for n in LOCK_FILES)})
    return [p for f in files if f.is_file() for p in requirement_packages(f)]


def _requirements(text: str) -> list[tuple[str, str]]:
    from packaging.requirements import InvalidRequirement, Requirement

    out = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].split(" --", 1)[0].strip().rstrip("\\").strip()  # no options, hashes
        if not line or line.startswith(("#", "-")):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            out.append((req.name, specs[0].version))
    return out


def _toml_lock(text: str) -> list[tuple[str, str]]:
    from modelseal.core.toml import TOMLDecodeError, loads

    try:
        data = loads(text)
    except TOMLDecodeError:
        return []
    packages = data.get("package", [])
    return [
        (p["name"], p["version"])
        for p in packages
        if isinstance(packages, list)
        if isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("version"), str)
    ]


def _pipfile_lock(text: str) -> list[tuple[str, str]]:
    try:
        data = json.loads(text)
    except ValueError:
        return []
    out = []
    for section in ("default", "develop"):
        for name, spec in (data.get(section) or {}).items():
            version = spec.get("version", "") if isinstance(spec, dict) else ""
            if isinstance(version, str) and version.startswith("=="):
                out.append((name, version[2:]))
    return out


def check_packages(cache: AdvisoryCache, packages: Iterable[Installed]) -> list[PackageHit]:
    """Every active advisory in the cache that affects one of ``packages``."""
    hits = []
    for pkg in packages:
        for hit, affected in cache.package_advisories(pkg.name):
            if affects(affected, pkg.version):
                hits.append(PackageHit(pkg, hit, fixed_versions(affected)))
    return hits
