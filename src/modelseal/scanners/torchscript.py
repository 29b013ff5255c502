"""TorchScript ``code/`` members: Python-syntax programs that ``torch.jit.load`` compiles and runs.

They are parsed with :mod:`ast` (never executed) and every call is checked against what a traced or
scripted network needs: tensor operators in the ``aten``/``prim``/``quantized`` namespaces.
"""

from __future__ import annotations

import ast

from modelseal.core.findings import Finding, Location, Severity
from modelseal.core.rules import make_finding

_OP_NAMESPACES = frozenset({"aten", "prim", "quantized", "_quantized", "prepacked", "_caffe2", "profiler"})
_SIDE_EFFECTS = frozenset(
    {
        "from_file",
        "save",
        "load",
        "_load_for_mobile",
        "open",
        "system",
        "popen",
        "exec",
        "eval",
        "__import__",
        "compile",
        "load_library",
        "_jit_pass_lower_all_tuples",
    }
)


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def scan_torchscript_code(source: bytes, member: str) -> list[Finding]:
    try:
        tree = ast.parse(source.decode("utf-8"), filename=member)
    except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError) as exc:
        return [
            make_finding(
                "MS-TORCHSCRIPT-CODE",
                f"TorchScript code member cannot be parsed: {exc}",
                severity=Severity.MEDIUM,
                location=Location(member),
            )
        ]
    findings: list[Finding] = []
    seen: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        parts = name.split(".")
        reason = ""
        if "ops" in parts:
            ns_index = parts.index("ops") + 1
            if ns_index < len(parts) and parts[ns_index] not in _OP_NAMESPACES:
                reason = f"calls a custom operator namespace '{parts[ns_index]}', implemented by native code"
        if parts[-1] in _SIDE_EFFECTS:
            reason = f"calls {parts[-1]}, which reaches files or the interpreter"
        if reason and name not in seen:
            seen.add(name)
            findings.append(
                make_finding(
                    "MS-TORCHSCRIPT-CODE",
                    f"TorchScript code {reason}",
                    location=Location(member),
                    evidence=f"line {node.lineno}: {name}(...)",
                )
            )
    return findings
