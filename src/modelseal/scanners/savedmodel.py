"""TensorFlow SavedModel graphs (``saved_model.pb``), listed op by op without TensorFlow.

A SavedModel holds no Python, but its graph runs ops, and some ops read or write files, run Python
callbacks or reach other machines the moment the graph executes. The messages are walked on the wire
(SavedModel → MetaGraphDef → GraphDef → NodeDef, and the functions of its library); payloads such as
constant tensors are skipped by seeking.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from modelseal.core.errors import Truncated
from modelseal.core.findings import Finding, Severity
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.protowire import LEN, VARINT, WireError, fields, read_string

# Ops that run Python in the loading process.
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
# Ops that touch files or the network when they run. Checkpoint ops (SaveV2, RestoreV2, MergeV2Checkpoints)
# are absent on purpose: every SavedModel has them, confined to its variables folder.
SIDE_EFFECT_OPS = {
    "file read": (
        "ReadFile",
        "MatchingFiles",
        "ImmutableConst",
        "WholeFileReader",
        "WholeFileReaderV2",
        "TextLineReader",
        "TextLineReaderV2",
        "FixedLengthRecordReader",
        "FixedLengthRecordReaderV2",
        "TFRecordReader",
        "TFRecordReaderV2",
        "LMDBReader",
        "TextLineDataset",
        "FixedLengthRecordDataset",
        "FixedLengthRecordDatasetV2",
        "TFRecordDataset",
        "TFRecordDatasetV2",
        "LMDBDataset",
        "CSVDataset",
        "CSVDatasetV2",
        "SqlDataset",
        "LoadDataset",
    ),
    "file write": (
        "WriteFile",
        "SaveDataset",
        "SaveDatasetV2",
        "DatasetToTFRecord",
        "CreateSummaryFileWriter",
        "CreateSummaryDbWriter",
        "WriteAudioSummary",
        "WriteRawProtoSummary",
    ),
    "network": (
        "RpcServer",
        "RpcClient",
        "RpcCall",
        "RpcServerStart",
        "RpcServerRegister",
        "DataServiceDataset",
        "DataServiceDatasetV2",
        "DataServiceDatasetV3",
        "DataServiceDatasetV4",
        "DebugIdentity",
        "DebugIdentityV2",
        "DebugIdentityV3",
    ),
}
_WHY = {op: why for why, ops in SIDE_EFFECT_OPS.items() for op in ops} | {op: "Python" for op in PYTHON_OPS}
MAX_NODE_NAMES = 8


@dataclass
class OpIndex:
    """Which dangerous ops appear, and under which node names (bounded)."""

    nodes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total: int = 0

    def add(self, op: str, node: str) -> None:
        self.total += 1
        if op in _WHY:
            self.counts[op] += 1
            if len(self.nodes[op]) < MAX_NODE_NAMES:
                self.nodes[op].append(node)


def _node(src: ByteSource, index: OpIndex, scope: str) -> None:
    name = op = ""
    for number, wire, value in fields(src):
        if number == 1 and wire == LEN:
            name = read_string(value, 1024)
        elif number == 2 and wire == LEN:
            op = read_string(value, 256)
    index.add(op, f"{scope}{name}")


def _function(src: ByteSource, index: OpIndex) -> None:
    fname = ""
    for number, wire, value in fields(src):
        if number == 1 and wire == LEN and isinstance(value, ByteSource):  # signature: OpDef, name = 1
            for n2, w2, v2 in fields(value):
                if n2 == 1 and w2 == LEN:
                    fname = read_string(v2, 1024)
        elif number == 3 and wire == LEN and isinstance(value, ByteSource):  # node_def
            _node(value, index, f"{fname or '<function>'}/")


def _graph(src: ByteSource, index: OpIndex) -> None:
    for number, wire, value in fields(src):
        if wire != LEN or not isinstance(value, ByteSource):
            continue
        if number == 1:
            _node(value, index, "")
        elif number == 2:  # FunctionDefLibrary: function = 1
            for n2, w2, v2 in fields(value):
                if n2 == 1 and w2 == LEN and isinstance(v2, ByteSource):
                    _function(v2, index)


def list_ops(src: ByteSource) -> OpIndex:
    """Walk a SavedModel message; raises :class:`WireError` when it is not one."""
    index = OpIndex()
    for number, wire, value in fields(src):
        if number == 1 and wire != VARINT:
            raise WireError("saved_model_schema_version is not an integer")
        if number == 2 and wire == LEN and isinstance(value, ByteSource):  # MetaGraphDef
            for n2, w2, v2 in fields(value):
                if n2 == 2 and w2 == LEN and isinstance(v2, ByteSource):  # GraphDef
                    _graph(v2, index)
    return index


def op_findings(index: OpIndex) -> list[Finding]:
    out = []
    for op, count in sorted(index.counts.items()):
        why = _WHY[op]
        names = ", ".join(index.nodes[op])
        more = f" and {count - len(index.nodes[op])} more" if count > len(index.nodes[op]) else ""
        out.append(
            make_finding(
                "MS-SAVEDMODEL-DANGEROUS-OP",
                f"graph runs {op} ({why}) in {count} node(s)",
                severity=Severity.CRITICAL if op in PYTHON_OPS else None,
                evidence=f"nodes: {names}{more}",
            )
        )
    return out


class SavedModelScanner(Scanner):
    format = "tf-savedmodel"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        try:
            index = list_ops(item.source)
        except (WireError, Truncated, UnicodeDecodeError) as exc:
            return ScanOutcome(
                self.format,
                (make_finding("MS-SAVEDMODEL-MALFORMED", f"saved_model.pb cannot be parsed: {exc}"),),
            )
        return ScanOutcome(self.format, tuple(op_findings(index)))
