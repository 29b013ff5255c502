"""ONNX models, walked on the protobuf wire (never run, no ``onnx`` package): operator domains, model-local
functions, nested graphs, external data and tensor sizes.

An ONNX graph cannot hold Python, but a custom operator domain makes the runtime load a native or Python
op library, and an external-data location is a path the runtime opens: both must stay inside what the
publisher shipped. The walk streams: tensor payloads are measured and skipped, never held, so the model's
size does not bound what can be checked (the ``onnx`` package stops at protobuf's 2 GiB).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field

from modelseal.core.errors import Truncated
from modelseal.core.findings import Finding, Location, Severity
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.protowire import LEN, VARINT, WireError, fields, read_string, read_varint
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
MAX_FINDINGS = 50
MAX_GRAPH_DEPTH = 64
"""Subgraphs (If/Loop/Scan bodies) nest; real models stay within a handful of levels."""
MAX_OPERATORS = 10_000
"""Distinct (domain, operator) pairs outside the standard domains kept for the final verdict (a domain may
turn out to be a model-local function's); real models use a few dozen."""
MAX_SAMPLES = 8


@dataclass
class Tensor:
    """What the checks need of a TensorProto; payloads are measured, never kept."""

    name: str = ""
    dims: list[int] = field(default_factory=list)
    data_type: int = 0
    raw_bytes: int | None = None
    typed_count: int = 0
    external: bool = False
    external_data: dict[str, str] = field(default_factory=dict)


# TensorProto fields holding typed values, with the bytes per packed value (0: varint-encoded).
_TYPED_FIELDS = {4: 4, 5: 0, 7: 0, 10: 8, 11: 0}


def _count_packed(value: ByteSource, width: int) -> int:
    if width:
        return value.drain() // width
    count = 0
    while not value.at_eof():
        read_varint(value)
        count += 1
    return count


def _int64(raw: int) -> int:
    """A protobuf int64 from its varint (two's complement over 64 bits)."""
    return raw - (1 << 64) if raw >= 1 << 63 else raw


def _dims(value: int | ByteSource, into: list[int]) -> None:
    if isinstance(value, ByteSource):
        while not value.at_eof():
            into.append(_int64(read_varint(value)))
    else:
        into.append(_int64(value))


def _string_entry(src: ByteSource) -> tuple[str, str]:
    key = val = ""
    for number, wire, value in fields(src):
        if number == 1 and wire == LEN:
            key = read_string(value, 256)
        elif number == 2 and wire == LEN:
            val = read_string(value, 4096)
    return key, val


def _tensor(src: ByteSource) -> Tensor:
    t = Tensor()
    for number, wire, value in fields(src):
        if number == 1:
            _dims(value, t.dims)
        elif number == 2 and wire == VARINT:
            t.data_type = int(value)  # type: ignore[arg-type]
        elif number == 8 and wire == LEN:
            t.name = read_string(value, 1024)
        elif number == 9 and isinstance(value, ByteSource):
            t.raw_bytes = value.drain()
        elif number == 13 and isinstance(value, ByteSource):
            key, val = _string_entry(value)
            t.external_data[key] = val
        elif number == 14 and wire == VARINT:
            t.external = value == 1  # DataLocation.EXTERNAL
        elif number in _TYPED_FIELDS:
            t.typed_count += (
                _count_packed(value, _TYPED_FIELDS[number]) if isinstance(value, ByteSource) else 1
            )
        elif number == 6:  # string_data: one entry per value
            t.typed_count += 1
    return t


class Walk:
    """One pass over a ModelProto: nodes outside the standard domains, declared opsets, local functions,
    and the findings of every tensor (initializers, sparse initializers, node attributes, subgraphs,
    functions and training graphs)."""

    def __init__(self, model_dir: str | None) -> None:
        self.model_dir = model_dir
        self.operators: dict[tuple[str, str], list[str]] = {}
        """(domain, operator) outside the standard domains -> node names (the first few; count apart)."""
        self.counts: dict[tuple[str, str], int] = {}
        self.declared: set[str] = set()
        self.local: set[tuple[str, str]] = set()
        self.findings: list[Finding] = []

    def model(self, src: ByteSource) -> None:
        for number, wire, value in fields(src):
            if not isinstance(value, ByteSource) or wire != LEN:
                continue
            if number == 8:
                self.opset(value)
            elif number == 7:
                self.graph(value, 0)
            elif number == 25:
                self.function(value)
            elif number == 20:  # TrainingInfoProto: initialization and algorithm graphs
                for n2, w2, v2 in fields(value):
                    if n2 in (1, 2) and w2 == LEN and isinstance(v2, ByteSource):
                        self.graph(v2, 0)

    def opset(self, src: ByteSource) -> None:
        for number, wire, value in fields(src):
            if number == 1 and wire == LEN:
                self.declared.add(read_string(value, 1024))

    def function(self, src: ByteSource) -> None:
        name = domain = ""
        for number, wire, value in fields(src):
            if not isinstance(value, ByteSource) or wire != LEN:
                continue
            if number == 1:
                name = read_string(value, 1024)
            elif number == 10:
                domain = read_string(value, 1024)
            elif number == 7:
                self.node(value, 0)
            elif number == 9:
                self.opset(value)
        self.local.add((domain, name))

    def graph(self, src: ByteSource, depth: int) -> None:
        if depth > MAX_GRAPH_DEPTH:
            raise WireError(f"subgraphs nested deeper than {MAX_GRAPH_DEPTH} levels")
        for number, wire, value in fields(src):
            if not isinstance(value, ByteSource) or wire != LEN:
                continue
            if number == 1:
                self.node(value, depth)
            elif number == 5:
                self.tensor(_tensor(value), "")
            elif number == 15:  # SparseTensorProto: values and indices
                for n2, w2, v2 in fields(value):
                    if n2 in (1, 2) and w2 == LEN and isinstance(v2, ByteSource):
                        self.tensor(_tensor(v2), "")

    def node(self, src: ByteSource, depth: int) -> None:
        name = op_type = domain = ""
        for number, wire, value in fields(src):
            if not isinstance(value, ByteSource) or wire != LEN:
                continue
            if number == 3:
                name = read_string(value, 1024)
            elif number == 4:
                op_type = read_string(value, 1024)
            elif number == 7:
                domain = read_string(value, 1024)
            elif number == 5:
                self.attribute(value, name, depth)
        if domain in STANDARD_DOMAINS:
            return
        key = (domain, op_type)
        if key not in self.operators and len(self.operators) >= MAX_OPERATORS:
            raise WireError(f"more than {MAX_OPERATORS} distinct custom operators")
        names = self.operators.setdefault(key, [])
        self.counts[key] = self.counts.get(key, 0) + 1
        if len(names) < MAX_SAMPLES:
            names.append(name or "unnamed")

    def attribute(self, src: ByteSource, node: str, depth: int) -> None:
        attr = ""
        for number, wire, value in fields(src):
            if not isinstance(value, ByteSource) or wire != LEN:
                continue
            if number == 1:
                attr = read_string(value, 1024)
            elif number in (5, 10):  # t, tensors
                self.tensor(_tensor(value), f"{node}.{attr}")
            elif number in (6, 11):  # g, graphs
                self.graph(value, depth + 1)
            elif number in (22, 23):  # sparse_tensor(s)
                for n2, w2, v2 in fields(value):
                    if n2 == 1 and w2 == LEN and isinstance(v2, ByteSource):
                        self.tensor(_tensor(v2), f"{node}.{attr}.values")

    def tensor(self, t: Tensor, owner: str) -> None:
        if len(self.findings) >= MAX_FINDINGS:
            return
        self.findings.extend(_tensor_findings(owner or t.name, t, self.model_dir))

    def domain_findings(self) -> list[Finding]:
        seen: dict[str, list[str]] = {}
        counts: dict[str, int] = {}
        for (domain, op), names in self.operators.items():
            if (domain, op) not in self.local:
                seen.setdefault(domain, []).extend(f"{op} ({n})" for n in names)
                counts[domain] = counts.get(domain, 0) + self.counts[(domain, op)]
        local_domains = {d for d, _ in self.local}
        for domain in self.declared - STANDARD_DOMAINS - local_domains:
            seen.setdefault(domain, [])
        out = []
        for domain, ops in seen.items():
            runtime = domain in RUNTIME_DOMAINS
            shown = ", ".join(ops[:MAX_SAMPLES]) or "declared in opset_import"
            out.append(
                make_finding(
                    "MS-ONNX-CUSTOM-DOMAIN",
                    f"operators from {'the runtime contrib' if runtime else 'the custom'} domain {domain!r}",
                    severity=Severity.LOW if runtime else None,
                    evidence=f"{counts.get(domain, 0)} node(s): {shown}"[:300],
                )
            )
        return out


def _expected_bytes(t: Tensor) -> int | None:
    bits = DTYPE_BITS.get(t.data_type)
    if bits is None or any(d < 0 for d in t.dims):
        return None
    count = 1
    for d in t.dims:
        count *= d
    return -(-count * bits // 8)


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


def _external(name: str, t: Tensor, model_dir: str | None) -> list[Finding]:
    info = t.external_data
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


def _tensor_findings(name: str, t: Tensor, model_dir: str | None) -> list[Finding]:
    if t.external:
        return _external(name, t, model_dir)
    expected = _expected_bytes(t)
    loc = Location(tensor=name)
    if any(d < 0 for d in t.dims):
        return [
            make_finding(
                "MS-ONNX-MALFORMED", f"tensor {name!r} has a negative dimension {t.dims}", location=loc
            )
        ]
    if t.raw_bytes and expected is not None and t.raw_bytes != expected:
        return [
            make_finding(
                "MS-ONNX-MALFORMED",
                f"tensor {name!r} holds {t.raw_bytes} bytes, its shape {t.dims} needs {expected}",
                location=loc,
            )
        ]
    if not t.raw_bytes and t.typed_count and t.data_type in DTYPE_BITS and expected is not None:
        elements = expected * 8 // DTYPE_BITS[t.data_type]
        # complex numbers use two values each; packed 4-bit types are stored one or two per value
        if t.typed_count not in (elements, 2 * elements, -(-elements // 2)):
            return [
                make_finding(
                    "MS-ONNX-MALFORMED",
                    f"tensor {name!r} holds {t.typed_count} values, its shape {t.dims} needs {elements}",
                    location=loc,
                )
            ]
    return []


def _model_dir(item: ScanInput) -> str | None:
    """The folder of the model on disk (for external data), when the input is a plain file."""
    path = item.disk_path
    return os.path.dirname(os.path.abspath(path)) if path is not None and os.path.isfile(path) else None


class OnnxScanner(Scanner):
    format = "onnx"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        walk = Walk(_model_dir(item))
        try:
            walk.model(item.source)
        except (WireError, Truncated, RecursionError) as exc:
            walk.findings.append(
                make_finding("MS-ONNX-MALFORMED", f"ONNX model cannot be parsed: {exc}"[:300])
            )
        return ScanOutcome(self.format, tuple(walk.domain_findings() + walk.findings[:MAX_FINDINGS]))
