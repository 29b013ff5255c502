"""ONNX models, parsed with the ``onnx`` package (never run): operator domains, external data, tensor sizes.

An ONNX graph cannot hold Python, but a custom operator domain makes the runtime load a native or Python
op library, and an external-data location is a path the runtime opens: both must stay inside what the
publisher shipped.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from typing import Any

from modelseal.core.findings import Finding, Location, Severity
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.repofiles import unsafe_member_name

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview", "ai.onnx.preview.training"})
# Contrib operators compiled into ONNX Runtime itself: not standard, but they load no extra library.
RUNTIME_DOMAINS = frozenset(
    {
        "com.microsoft",
        "com.microsoft.nchwc",
        "com.microsoft.experimental",
        "com.ms.internal.nhwc",
        "com.microsoft.dml",
    }
)
# Bits per element of TensorProto data types (STRING excluded: variable length).
DTYPE_BITS = {
    1: 32,
    2: 8,
    3: 8,
    4: 16,
    5: 16,
    6: 32,
    7: 64,
    9: 8,
    10: 16,
    11: 64,
    12: 32,
    13: 64,
    14: 64,
    15: 128,
    16: 16,
    17: 8,
    18: 8,
    19: 8,
    20: 8,
    21: 4,
    22: 4,
    23: 4,
    24: 8,
}
MAX_MODEL_BYTES = 2 << 30
"""Protobuf's own limit: ONNX files above it must keep their weights as external data."""
MAX_FINDINGS = 50


def _graphs(graph: Any) -> Iterator[Any]:
    """A graph and every subgraph in its nodes' attributes (If/Loop/Scan bodies)."""
    stack = [graph]
    while stack:
        g = stack.pop()
        yield g
        for node in g.node:
            for attr in node.attribute:
                if attr.HasField("g"):
                    stack.append(attr.g)
                stack.extend(attr.graphs)


def _node_tensors(nodes: Any) -> Iterator[tuple[str, Any]]:
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield f"{node.name}.{attr.name}", attr.t
            for i, t in enumerate(attr.tensors):
                yield f"{node.name}.{attr.name}[{i}]", t
            if attr.HasField("sparse_tensor"):
                yield f"{node.name}.{attr.name}.values", attr.sparse_tensor.values


def _tensors(model: Any) -> Iterator[tuple[str, Any]]:
    for g in _graphs(model.graph):
        for t in g.initializer:
            yield t.name, t
        for s in g.sparse_initializer:
            yield s.values.name, s.values
            yield s.indices.name, s.indices
        yield from _node_tensors(g.node)
    for fn in model.functions:
        yield from _node_tensors(fn.node)


def _domains(model: Any) -> list[Finding]:
    local = {(f.domain, f.name) for f in model.functions}
    seen: dict[str, list[str]] = {}
    nodes = [n for g in _graphs(model.graph) for n in g.node] + [n for f in model.functions for n in f.node]
    for node in nodes:
        if node.domain in STANDARD_DOMAINS or (node.domain, node.op_type) in local:
            continue
        seen.setdefault(node.domain, []).append(f"{node.op_type} ({node.name or 'unnamed'})")
    for opset in model.opset_import:
        if opset.domain not in STANDARD_DOMAINS and opset.domain not in {d for d, _ in local}:
            seen.setdefault(opset.domain, [])
    out = []
    for domain, ops in seen.items():
        runtime = domain in RUNTIME_DOMAINS
        shown = ", ".join(ops[:8]) or "declared in opset_import"
        out.append(
            make_finding(
                "MS-ONNX-CUSTOM-DOMAIN",
                f"operators from {'the runtime contrib' if runtime else 'the custom'} domain {domain!r}",
                severity=Severity.LOW if runtime else None,
                evidence=f"{len(ops)} node(s): {shown}"[:300],
            )
        )
    return out


def _expected_bytes(t: Any) -> int | None:
    bits = DTYPE_BITS.get(t.data_type)
    if bits is None or any(d < 0 for d in t.dims):
        return None
    count = 1
    for d in t.dims:
        count *= d
    return -(-count * bits // 8)


def _typed_count(t: Any) -> int:
    return sum(
        len(getattr(t, f))
        for f in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")
    )


def _escape(location: str, model_dir: str | None) -> str:
    """Why an external-data location would read outside the model's folder, or ``""``."""
    why = unsafe_member_name(location)
    if why:
        return f"{'an' if why[0] in 'aeiou' else 'a'} {why}"
    if model_dir is not None:
        target = os.path.realpath(os.path.join(model_dir, location))
        root = os.path.realpath(model_dir)
        if os.path.commonpath([root, target]) != root:
            return f"a link that resolves to {target}"
    return ""


def _external(name: str, t: Any, model_dir: str | None) -> list[Finding]:
    info = {e.key: e.value for e in t.external_data}
    location = info.get("location", "")
    loc = Location(tensor=name)
    why = "no location" if not location else _escape(location, model_dir)
    if why:
        return [
            make_finding(
                "MS-ONNX-EXTERNAL-DATA",
                f"tensor {name!r} stores its data at {location!r}: {why}",
                location=loc,
                evidence=location[:200],
            )
        ]
    try:
        offset, length = int(info.get("offset", "0")), int(info["length"]) if "length" in info else None
    except ValueError:
        return [
            make_finding(
                "MS-ONNX-MALFORMED",
                f"tensor {name!r} has a non-numeric external offset or length",
                location=loc,
                evidence=str(info)[:200],
            )
        ]
    expected = _expected_bytes(t)
    if length is not None and expected is not None and length != expected:
        return [
            make_finding(
                "MS-ONNX-MALFORMED",
                f"tensor {name!r} declares {length} external bytes, its shape needs {expected}",
                location=loc,
            )
        ]
    if model_dir is None:
        return []
    path = os.path.join(model_dir, posixpath.normpath(location))
    if not os.path.isfile(path):
        return [
            make_finding(
                "MS-ONNX-MALFORMED", f"tensor {name!r}: external file {location!r} is missing", location=loc
            )
        ]
    size = os.path.getsize(path)
    end = offset + (length if length is not None else (expected or 0))
    if offset < 0 or end > size:
        return [
            make_finding(
                "MS-ONNX-MALFORMED",
                f"tensor {name!r}: bytes [{offset}, {end}) lie outside {location!r} ({size} bytes)",
                location=loc,
            )
        ]
    return []


def _tensor_findings(model: Any, model_dir: str | None) -> list[Finding]:
    out: list[Finding] = []
    for name, t in _tensors(model):
        if len(out) >= MAX_FINDINGS:
            break
        if t.data_location == 1:  # TensorProto.EXTERNAL
            out.extend(_external(name, t, model_dir))
            continue
        expected = _expected_bytes(t)
        if any(d < 0 for d in t.dims):
            out.append(
                make_finding(
                    "MS-ONNX-MALFORMED",
                    f"tensor {name!r} has a negative dimension {list(t.dims)}",
                    location=Location(tensor=name),
                )
            )
        elif t.raw_data and expected is not None and len(t.raw_data) != expected:
            out.append(
                make_finding(
                    "MS-ONNX-MALFORMED",
                    f"tensor {name!r} holds {len(t.raw_data)} bytes, its "
                    f"shape {list(t.dims)} needs {expected}",
                    location=Location(tensor=name),
                )
            )
        elif not t.raw_data and _typed_count(t) and t.data_type in DTYPE_BITS and expected is not None:
            count = _typed_count(t)
            elements = expected * 8 // DTYPE_BITS[t.data_type]
            # complex numbers use two values each; packed 4-bit types are stored one or two per value
            if count not in (elements, 2 * elements, -(-elements // 2)):
                out.append(
                    make_finding(
                        "MS-ONNX-MALFORMED",
                        f"tensor {name!r} holds {count} values, its shape {list(t.dims)} needs {elements}",
                        location=Location(tensor=name),
                    )
                )
    return out


def _model_dir(item: ScanInput) -> str | None:
    """The folder of the model on disk (for external data), when the input is a plain file."""
    path = item.disk_path
    return os.path.dirname(os.path.abspath(path)) if path is not None and os.path.isfile(path) else None


class OnnxScanner(Scanner):
    format = "onnx"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        try:
            import onnx  # heavy, optional
        except ImportError:
            return ScanOutcome(
                self.format,
                (make_finding("MS-FORMAT-NOT-ANALYSED", "format not analysed: install modelseal[onnx]"),),
            )
        f = ctx.seekable(item)
        data = f.read(MAX_MODEL_BYTES + 1)
        if len(data) > MAX_MODEL_BYTES:
            return ScanOutcome(
                self.format,
                (
                    make_finding(
                        "MS-ONNX-MALFORMED", "ONNX protobuf is over 2 GiB, which no ONNX reader accepts"
                    ),
                ),
            )
        try:
            model = onnx.load_model_from_string(data)
        except Exception as exc:  # protobuf's DecodeError and friends: fail closed
            return ScanOutcome(
                self.format,
                (
                    make_finding(
                        "MS-ONNX-MALFORMED", f"ONNX model cannot be parsed: {type(exc).__name__}: {exc}"[:300]
                    ),
                ),
            )
        del data
        findings = _domains(model) + _tensor_findings(model, _model_dir(item))
        return ScanOutcome(self.format, tuple(findings))
