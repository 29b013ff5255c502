"""Keras models: the layer configuration decides what loading imports and runs.

Three carriers hold the same kind of JSON configuration: the ``model_config`` attribute of a legacy ``.h5``
file, ``config.json`` inside a ``.keras`` v3 zip, and the per-object metadata of a legacy SavedModel's
``keras_metadata.pb``. All three are analysed by :func:`config_findings`: ``Lambda`` layers carry code,
``module``/``registered_name`` entries name importable objects (allowed only inside Keras), and
``safe_mode`` must not be turned off.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from modelseal.core.errors import Truncated
from modelseal.core.findings import Finding, Location, Severity
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.protowire import LEN, WireError, fields, read_string

# Modules whose objects Keras deserialises for ordinary models.
KERAS_MODULES = (
    "keras",
    "keras_hub",
    "keras_nlp",
    "keras_cv",
    "tf_keras",
    "tensorflow.keras",
    "tensorflow.python.keras",
)
# Modules whose functions are process, code or file primitives: naming them is an attack, not a custom layer.
DANGEROUS_MODULES = (
    "os",
    "posix",
    "nt",
    "subprocess",
    "builtins",
    "__builtin__",
    "sys",
    "shutil",
    "socket",
    "importlib",
    "pickle",
    "marshal",
    "runpy",
    "pty",
    "ctypes",
    "code",
    "webbrowser",
)
# The members of a ``.keras`` v3 zip that hold configuration (the rest are weights and assets).
KERAS_CONFIG_MEMBERS = frozenset({"config.json", "metadata.json"})
MAX_OBJECTS = 100_000
MAX_FINDINGS = 50


def _walk(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 200:
        raise RecursionError("configuration nested too deeply")
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _walk(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, depth + 1)


def _root(module: str) -> str:
    return module.split(".", 1)[0]


def _allowed(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in KERAS_MODULES)


def config_findings(config: Any) -> list[Finding]:
    """Everything in a Keras configuration that makes loading import or run code."""
    out: list[Finding] = []
    reported: set[int] = set()
    for count, obj in enumerate(_walk(config)):
        if count > MAX_OBJECTS or len(out) >= MAX_FINDINGS:
            break
        cls = obj.get("class_name")
        name = obj.get("config", {}).get("name", "") if isinstance(obj.get("config"), dict) else ""
        where = f" (layer {name!r})" if name else ""
        if cls == "Lambda":
            function = obj.get("config", {}).get("function") if isinstance(obj.get("config"), dict) else None
            code = _lambda_code(function)
            reported.add(id(function))
            out.append(
                make_finding(
                    "MS-KERAS-LAMBDA",
                    f"Lambda layer{where} carries {code}",
                    severity=Severity.CRITICAL if "bytecode" in code else Severity.HIGH,
                    evidence=json.dumps(function)[:300],
                )
            )
        elif cls == "__lambda__" and id(obj) not in reported:
            out.append(
                make_finding(
                    "MS-KERAS-LAMBDA",
                    "serialised lambda (marshalled bytecode)",
                    evidence=json.dumps(obj)[:300],
                )
            )
        module = obj.get("module")
        if isinstance(module, str) and not _allowed(module):
            target = f"{module}.{obj.get('config') if cls == 'function' else cls}"
            danger = _root(module) in DANGEROUS_MODULES
            out.append(
                make_finding(
                    "MS-KERAS-CUSTOM-OBJECT",
                    f"configuration imports {target[:120]} from outside Keras",
                    severity=Severity.CRITICAL if danger else None,
                    evidence=json.dumps(obj)[:300],
                )
            )
        registered = obj.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            package = registered.split(">", 1)[0]
            if not _allowed(package):
                out.append(
                    make_finding(
                        "MS-KERAS-CUSTOM-OBJECT",
                        f"configuration needs the registered custom object {registered[:120]!r}",
                        evidence=json.dumps(obj)[:300],
                    )
                )
        if obj.get("safe_mode") is False:
            out.append(
                make_finding(
                    "MS-KERAS-UNSAFE-CONFIG",
                    "configuration sets safe_mode to false",
                    evidence=json.dumps(obj)[:300],
                )
            )
    return out


def _lambda_code(function: Any) -> str:
    if isinstance(function, list) and function and isinstance(function[0], str):
        return "marshalled bytecode"  # legacy tf.keras: [base64(marshal(code)), defaults, closure]
    if isinstance(function, dict):
        if function.get("class_name") == "__lambda__":
            return "marshalled bytecode"
        return f"a function reference {json.dumps(function)[:120]}"
    if isinstance(function, str):
        return f"a function named {function[:120]!r}"
    return "a function"


def json_findings(raw: bytes, what: str) -> list[Finding]:
    """Parse one JSON configuration document and analyse it; unreadable JSON fails closed."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return [make_finding("MS-KERAS-UNSAFE-CONFIG", f"{what} is not valid JSON: {exc}"[:300])]
    try:
        return config_findings(doc)
    except RecursionError:
        return [make_finding("MS-KERAS-UNSAFE-CONFIG", f"{what} is nested too deeply to analyse")]


def keras_zip_member(name: str, data: bytes) -> list[Finding]:
    """The configuration members of a ``.keras`` v3 archive (zip.py hands them over)."""
    return [f.within(name) for f in json_findings(data, name)]


class Hdf5Scanner(Scanner):
    """HDF5 files: legacy Keras models (``model_config``) and weight files. Read with h5py when it is
    installed (extra ``keras``), else with the pure-Python pyfive (a default dependency)."""

    format = "hdf5"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        try:
            import h5py  # type: ignore[import-untyped]  # heavy, optional
        except ImportError:
            return self._pure_python(item, ctx)
        try:
            with h5py.File(ctx.seekable(item), "r") as f:
                findings = _attrs(f.attrs)
                fmt = "hdf5-keras" if "model_config" in f.attrs else self.format
                findings.extend(_links(f, h5py, ctx.limits.max_members))
        except Exception as exc:  # h5py raises many types on damaged files: fail closed
            return ScanOutcome(self.format, (_unreadable(exc),))
        return ScanOutcome(fmt, tuple(findings))

    def _pure_python(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        try:
            from modelseal.scanners.hdf5 import Walker
        except ImportError:  # pyfive (or numpy under it) missing: nothing here can read HDF5
            return ScanOutcome(
                self.format,
                (
                    make_finding(
                        "MS-FORMAT-NOT-ANALYSED",
                        "format not analysed: install pyfive or modelseal[keras] (h5py) to check HDF5 "
                        "files for Keras Lambda layers, custom objects and external links",
                    ),
                ),
            )
        try:
            findings, keras = Walker(ctx.seekable(item), ctx.limits.max_members).walk(_attrs)
        except Exception as exc:  # pyfive raises many types on damaged files: fail closed
            return ScanOutcome(self.format, (_unreadable(exc),))
        return ScanOutcome("hdf5-keras" if keras else self.format, tuple(findings))


def _unreadable(exc: Exception) -> Finding:
    return make_finding(
        "MS-KERAS-UNSAFE-CONFIG", f"HDF5 file cannot be read: {type(exc).__name__}: {exc}"[:300]
    )


def _attrs(attrs: Any) -> list[Finding]:
    out: list[Finding] = []
    for key in ("model_config", "training_config"):
        if key in attrs:
            raw = attrs[key]
            data = raw if isinstance(raw, bytes) else str(raw).encode()
            out.extend(x.within(f"attribute {key}") for x in json_findings(data, key))
    return out


def _links(f: Any, h5py: Any, max_objects: int) -> list[Finding]:
    """External links, external raw storage and virtual datasets make a reader open other files: never in
    a model."""
    out: list[Finding] = []
    stack = [("", f)]
    seen = 0
    while stack:
        path, group = stack.pop()
        for key in group:
            seen += 1
            if seen > max_objects:
                out.append(make_finding("MS-LIMIT-EXCEEDED", f"more than {max_objects} HDF5 objects"))
                return out
            full = f"{path}/{key}"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                out.append(
                    make_finding(
                        "MS-HDF5-EXTERNAL",
                        f"{full} links to {link.filename}:{link.path}",
                        location=Location(tensor=full),
                        evidence=str(link.filename)[:200],
                    )
                )
                continue
            if isinstance(link, h5py.SoftLink):
                continue
            obj = group[key]
            if isinstance(obj, h5py.Group):
                stack.append((full, obj))
            elif isinstance(obj, h5py.Dataset):
                out.extend(_dataset_storage(full, obj))
    return out


def _dataset_storage(full: str, obj: Any) -> list[Finding]:
    sources = []
    if obj.external:
        sources = [str(e[0]) for e in obj.external[:4]]
    elif obj.is_virtual:
        sources = sorted({str(s.file_name) for s in obj.virtual_sources()} - {"."})[:4]
    if not sources:
        return []
    files = ", ".join(sources)
    kind = "stores its data in" if obj.external else "is virtual, mapped from"
    return [
        make_finding(
            "MS-HDF5-EXTERNAL",
            f"dataset {full} {kind} {files}",
            location=Location(tensor=full),
            evidence=files[:200],
        )
    ]


class KerasMetadataScanner(Scanner):
    """Legacy SavedModel Keras metadata: each saved object's JSON metadata is a layer configuration."""

    format = "keras-metadata"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        findings: list[Finding] = []
        try:
            for number, wire, node in fields(item.source):
                if number != 1 or wire != LEN or not isinstance(node, ByteSource):
                    continue
                path = ""
                for n2, w2, value in fields(node):
                    if n2 == 3 and w2 == LEN:
                        path = read_string(value, 1024)
                    elif n2 == 5 and w2 == LEN and isinstance(value, ByteSource):
                        size = ctx.limits.max_header_bytes
                        data = value.read_upto(size + 1)
                        if len(data) > size:
                            findings.append(
                                make_finding("MS-LIMIT-EXCEEDED", f"metadata of {path!r} too large")
                            )
                            continue
                        findings.extend(x.within(path or "object") for x in json_findings(data, "metadata"))
        except (WireError, Truncated) as exc:
            findings.append(
                make_finding("MS-SAVEDMODEL-MALFORMED", f"keras_metadata.pb cannot be parsed: {exc}")
            )
        return ScanOutcome(self.format, tuple(findings))
