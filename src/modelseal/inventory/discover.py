"""Walks the paths the user names and collects every model reference: files, folders, hub caches, code.

Discovery is cheap on purpose (names and folder structure); deciding what a file really is belongs to
the scanners, which ``modelseal reverify`` runs over what the inventory found.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from modelseal.core.errors import SourceError
from modelseal.core.limits import Limits
from modelseal.inventory.code import MODEL_SUFFIXES, references_in_file
from modelseal.inventory.model import UNSAFE, Reference
from modelseal.scanners.zipspans import unbounded_directory
from modelseal.sources.hfcache import cached_revisions, default_cache
from modelseal.sources.hflayout import is_cache_root, is_repo_folder

SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "site-packages",
}
CODE_SUFFIXES = (".py", ".ipynb")
PICKLE_FORMATS = {"pickle", "joblib"}
MODEL_FOLDER_MARKERS = ("config.json", "model_index.json", "saved_model.pb", "modules.json")
_SUFFIX_FORMAT = {
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".onnx": "onnx",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "joblib",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".bin": "pytorch",
    ".ckpt": "pytorch",
    ".h5": "keras",
    ".hdf5": "keras",
    ".keras": "keras",
    ".npy": "npy",
    ".npz": "npz",
    ".pb": "savedmodel",
    ".tflite": "tflite",
    ".msgpack": "flax",
    ".model": "sentencepiece",
}


def cache_references(cache: Path) -> list[Reference]:
    """Every cached model revision (the cache layout is read by :mod:`modelseal.sources.hfcache`)."""
    return [
        _on_disk("hf-cache", str(rev.snapshot), rev.files, rev.repo_id, rev.commit)
        for rev in cached_revisions(cache)
    ]


def _on_disk(
    kind: str, location: str, names: tuple[str, ...], model: str = "", revision: str | None = None
) -> Reference:
    """A model found as files; pickle-based files are flagged: whatever loads them unpickles them."""
    formats = sorted({_SUFFIX_FORMAT[s] for n in names if (s := Path(n).suffix.lower()) in _SUFFIX_FORMAT})
    flags = (UNSAFE,) if set(formats) & PICKLE_FORMATS else ()
    loader = "huggingface cache" if kind == "hf-cache" else ""
    return Reference(kind, location, model or location, loader, revision, flags, "+".join(formats), names)


def plain_npz(path: Path) -> bool:
    """An ``.npz`` whose arrays are all plain numbers: data, not a model (nothing in it unpickles). One
    with an object array, that cannot be read, or whose directory is past the scanner's member limit (read
    whole, it could take memory without bound) stays listed (fail closed)."""
    if path.suffix.lower() != ".npz":
        return False
    try:
        with open(path, "rb") as fh:
            if unbounded_directory(fh, Limits()):
                return False
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                with archive.open(member) as fh:
                    header = fh.read(_NPY_HEADER_BYTES)
                if not header.startswith(b"\x93NUMPY") or b"O'" in header:
                    return False
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, NotImplementedError):
        return False
    return True


_NPY_HEADER_BYTES = 4096
"""Enough for the header of any ``.npy`` member (its dtype description)."""


def _walk(root: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        yield Path(dirpath), dirnames, sorted(filenames)


def folder_references(root: Path) -> list[Reference]:
    """Model folders (a config beside weights) as one entry, loose weight files as one each, and code."""
    found: list[Reference] = []
    model_dirs: list[Path] = []
    for here, dirnames, filenames in _walk(root):
        if is_cache_root(here):
            found += cache_references(here)
            dirnames[:] = [d for d in dirnames if not is_repo_folder(d)]
        if any(d == here or d in here.parents for d in model_dirs):
            continue
        weights = tuple(n for n in filenames if n.lower().endswith(MODEL_SUFFIXES))
        if weights and any(m in filenames for m in MODEL_FOLDER_MARKERS):
            model_dirs.append(here)
            nested = sorted(str((Path(dp) / n).relative_to(here)) for dp, _, fs in os.walk(here) for n in fs)
            found.append(_on_disk("folder", str(here), tuple(nested)))
            continue
        for name in weights:
            path = here / name
            if not plain_npz(path):
                found.append(_on_disk("file", str(path), (name,)))
        for name in filenames:
            if name.endswith(CODE_SUFFIXES):
                found += references_in_file(here / name, str(here / name))
    return found


def discover(paths: list[str], *, include_default_cache: bool = False) -> list[Reference]:
    """All references under the given paths (files, folders, caches), in a stable order."""
    found: list[Reference] = []
    targets = [Path(p) for p in paths]
    if include_default_cache:
        cache = default_cache()
        if cache is not None:
            targets.append(cache)
    for target in targets:
        if not target.exists():
            raise SourceError(f"{target}: no such file or folder")
        if target.is_file():
            if target.name.endswith(CODE_SUFFIXES):
                found += references_in_file(target, str(target))
            elif not plain_npz(target):
                found.append(_on_disk("file", str(target), (target.name,)))
        elif is_cache_root(target):
            found += cache_references(target)
        else:
            found += folder_references(target)
    return found
