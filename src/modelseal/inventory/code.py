"""Finds model loads in Python source (and notebooks) with an AST pass. Nothing is imported or run.

Imports are resolved to canonical names first (``import torch as t`` makes ``t.load`` mean
``torch.load``; ``from transformers import AutoModel as M`` makes ``M.from_pretrained`` a transformers
load), simple re-bindings (``load = torch.load``) and string constants (``MODEL_ID = "org/name"``)
are followed, then each call is matched against a table of loaders.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelseal.inventory.model import DYNAMIC, REMOTE_CODE, UNPINNED, UNSAFE, Reference

COMMIT = re.compile(r"[0-9a-f]{40}")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
MODEL_SUFFIXES = (
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".pkl",
    ".pickle",
    ".joblib",
    ".h5",
    ".hdf5",
    ".keras",
    ".onnx",
    ".safetensors",
    ".gguf",
    ".npy",
    ".npz",
    ".pb",
    ".tflite",
    ".msgpack",
    ".model",
)


@dataclass(frozen=True)
class Loader:
    """How to read one loader's call: where the model argument sits and what makes it unsafe."""

    model_arg: int | None
    model_kw: tuple[str, ...]
    hub: bool
    """Loads by hub id, so a revision can and should be pinned."""
    format: str = ""
    unsafe: bool = False
    """Deserialises with pickle (or runs code) whatever the flags say."""


_PICKLE = Loader(0, ("file",), hub=False, format="pickle", unsafe=True)
_LOADERS: dict[str, Loader] = {
    "transformers.pipeline": Loader(1, ("model",), hub=True),
    "huggingface_hub.hf_hub_download": Loader(0, ("repo_id",), hub=True),
    "huggingface_hub.snapshot_download": Loader(0, ("repo_id",), hub=True),
    "huggingface_hub.hf_hub_url": Loader(0, ("repo_id",), hub=True),
    "sentence_transformers.SentenceTransformer": Loader(0, ("model_name_or_path",), hub=True),
    "sentence_transformers.CrossEncoder": Loader(0, ("model_name", "model_name_or_path"), hub=True),
    "torch.load": Loader(0, ("f",), hub=False, format="pytorch"),
    "torch.jit.load": Loader(0, ("f",), hub=False, format="torchscript", unsafe=True),
    "torch.hub.load": Loader(0, ("repo_or_dir",), hub=True, unsafe=True),
    "torch.hub.load_state_dict_from_url": Loader(0, ("url",), hub=False, format="pytorch", unsafe=True),
    "pickle.load": _PICKLE,
    "pickle.loads": Loader(0, ("data",), hub=False, format="pickle", unsafe=True),
    "_pickle.load": _PICKLE,
    "cPickle.load": _PICKLE,
    "dill.load": _PICKLE,
    "cloudpickle.load": _PICKLE,
    "joblib.load": Loader(0, ("filename",), hub=False, format="joblib", unsafe=True),
    "sklearn.externals.joblib.load": Loader(0, ("filename",), hub=False, format="joblib", unsafe=True),
    "pandas.read_pickle": Loader(0, ("filepath_or_buffer",), hub=False, format="pickle", unsafe=True),
    "numpy.load": Loader(0, ("file",), hub=False, format="npy"),
    "keras.models.load_model": Loader(0, ("filepath",), hub=False, format="keras"),
    "keras.saving.load_model": Loader(0, ("filepath",), hub=False, format="keras"),
    "tensorflow.keras.models.load_model": Loader(0, ("filepath",), hub=False, format="keras"),
    "tf_keras.models.load_model": Loader(0, ("filepath",), hub=False, format="keras"),
    "tensorflow.saved_model.load": Loader(0, ("export_dir",), hub=False, format="savedmodel"),
    "tensorflow_hub.load": Loader(0, ("handle",), hub=False, format="savedmodel"),
    "tensorflow_hub.KerasLayer": Loader(0, ("handle",), hub=False, format="savedmodel"),
    "onnx.load": Loader(0, ("f",), hub=False, format="onnx"),
    "onnxruntime.InferenceSession": Loader(0, ("path_or_bytes",), hub=False, format="onnx"),
    "safetensors.torch.load_file": Loader(0, ("filename",), hub=False, format="safetensors"),
    "safetensors.safe_open": Loader(0, ("filename",), hub=False, format="safetensors"),
    "timm.create_model": Loader(0, ("model_name",), hub=True),
    "open_clip.create_model_and_transforms": Loader(0, ("model_name",), hub=True),
    "spacy.load": Loader(0, ("name",), hub=False),
    "whisper.load_model": Loader(0, ("name",), hub=False, format="pytorch", unsafe=True),
    "fasttext.load_model": Loader(0, ("path",), hub=False, format="fasttext"),
    "llama_cpp.Llama": Loader(None, ("model_path",), hub=False, format="gguf"),
    "vllm.LLM": Loader(0, ("model",), hub=True),
    "ultralytics.YOLO": Loader(0, ("model",), hub=False, format="pytorch", unsafe=True),
}
_SUFFIX_LOADERS = {
    "from_pretrained": Loader(0, ("pretrained_model_name_or_path", "model_id", "repo_id"), hub=True),
    "from_single_file": Loader(0, ("pretrained_model_link_or_path",), hub=True),
}
_SUFFIX_PREFIXES = ("mlflow.", "gensim.")
_GENERIC_LOAD = Loader(0, ("model_uri", "fname"), hub=False)


def _literal(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.JoinedStr):
        return None
    return None


class _Visitor(ast.NodeVisitor):
    def __init__(self, location: str) -> None:
        self.location = location
        self.aliases: dict[str, str] = {}
        self.constants: dict[str, str] = {}
        self.found: list[Reference] = []

    # -- names --------------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return
        name = node.targets[0].id
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            self.constants[name] = value.value
        elif isinstance(value, (ast.Name, ast.Attribute)):
            resolved = self.resolve(value)
            if resolved and "?" not in resolved:
                self.aliases[name] = resolved

    def resolve(self, node: ast.expr) -> str | None:
        """The dotted name a call target stands for, with ``?`` for a part that is not a name."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base or '?'}.{node.attr}"
        if isinstance(node, ast.Call):
            inner = self.resolve(node.func)
            return f"{inner}()" if inner else "?"
        return None

    # -- calls --------------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        name = self.resolve(node.func)
        if not name:
            return
        loader = self._loader(name)
        if loader is not None:
            self.found.append(self._reference(name, loader, node))

    def _loader(self, name: str) -> Loader | None:
        # keras re-exports: ``tensorflow.keras.models.load_model`` and friends, however imported
        canonical = name.replace("tf.keras.", "tensorflow.keras.")
        if canonical in _LOADERS:
            return _LOADERS[canonical]
        last = canonical.rsplit(".", 1)[-1]
        if last in _SUFFIX_LOADERS:
            return _SUFFIX_LOADERS[last]
        if last == "load_model" and (canonical.startswith(_SUFFIX_PREFIXES) or ".keras." in f".{canonical}"):
            return _GENERIC_LOAD
        if last == "load" and canonical.startswith("gensim."):
            return _GENERIC_LOAD
        return None

    def _reference(self, name: str, loader: Loader, node: ast.Call) -> Reference:
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        arg: ast.expr | None = None
        for key in loader.model_kw:
            if key in kw:
                arg = kw[key]
                break
        else:
            if loader.model_arg is not None and len(node.args) > loader.model_arg:
                arg = node.args[loader.model_arg]
        flags: list[str] = []
        model = _literal(arg, self.constants)
        if model is None:
            model = f"<dynamic: {ast.unparse(arg)}>" if arg is not None else "<not given>"
            flags.append(DYNAMIC)
        revision = _literal(kw.get("revision"), self.constants)
        if name == "torch.hub.load" and ":" in model:  # "owner/repo:ref"
            model, revision = model.split(":", 1)
        hub_id = loader.hub and not model.startswith("<") and _looks_like_hub_id(model)
        if hub_id and (revision is None or not COMMIT.fullmatch(revision)):
            flags.append(UNPINNED)
        if loader.unsafe or _unsafe_flags(name, kw):
            flags.append(UNSAFE)
        if _true(kw.get("trust_remote_code")) or name == "torch.hub.load":
            flags.append(REMOTE_CODE)
        return Reference(
            kind="code",
            location=f"{self.location}:{node.lineno}",
            model=model,
            loader=name,
            revision=revision,
            flags=tuple(flags),
            format=loader.format,
        )


def _true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _unsafe_flags(name: str, kw: dict[str, ast.expr]) -> bool:
    """Loader flags that turn on pickle or code execution (or leave it on by default)."""
    if name == "torch.load":
        return not _true(kw.get("weights_only"))  # absent: unpickles everything on torch < 2.6
    if name == "numpy.load":
        return _true(kw.get("allow_pickle"))
    if name.endswith("load_model"):
        return _false(kw.get("safe_mode"))  # Keras runs Lambda-layer code with safe_mode=False
    if name.rsplit(".", 1)[-1] in _SUFFIX_LOADERS:
        return _false(kw.get("use_safetensors"))
    return False


def _looks_like_hub_id(model: str) -> bool:
    return (
        not model.startswith((".", "/", "~"))
        and not model.lower().endswith(MODEL_SUFFIXES)
        and HUB_ID.fullmatch(model) is not None
    )


def references_in_source(text: str, location: str) -> list[Reference]:
    """Model references in one Python source; a file that does not parse is one unknown reference."""
    visitor = _Visitor(location)
    try:
        visitor.visit(ast.parse(text, filename=location))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        # Fail closed: code that cannot be read may load anything, so it is listed, not skipped.
        line = getattr(exc, "lineno", None) or 1
        reason = type(exc).__name__ if not isinstance(exc, SyntaxError) else exc.msg
        return [Reference("code", f"{location}:{line}", f"<not parsed: {reason}>", flags=(DYNAMIC,))]
    return visitor.found


def _notebook_cells(text: str) -> Iterator[str]:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return
    cells = doc.get("cells", []) if isinstance(doc, dict) else []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            lines = source if isinstance(source, list) else [source]
            # IPython magics and shell escapes are not Python
            yield "".join(
                line for line in lines if isinstance(line, str) and not line.lstrip().startswith(("%", "!"))
            )


def references_in_file(path: Path, display: str, max_bytes: int = 10 << 20) -> list[Reference]:
    """Python files and Jupyter notebooks; anything larger than ``max_bytes`` is skipped."""
    try:
        if path.stat().st_size > max_bytes:
            return []
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    if path.suffix == ".ipynb":
        found = []
        for n, cell in enumerate(_notebook_cells(text), 1):
            found += references_in_source(cell, f"{display}#cell{n}")
        return found
    return references_in_source(text, display)
