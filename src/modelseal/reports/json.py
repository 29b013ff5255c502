"""The JSON report: every fact of a scan, in the shape that ``schema/scan-report-v1.json`` documents.

``schema_version`` changes only when a field is removed, renamed or changes meaning; new optional fields
keep the version (consumers ignore fields they do not know).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelseal.core.catalogue import RULES
from modelseal.core.findings import Finding
from modelseal.core.result import ScanResult
from modelseal.reports.interface import JsonDocumentWriter, format_counts, severity_counts

SCHEMA_ID = "https://modelseal.dev/schemas/scan-report/v1.json"
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "schema" / "scan-report-v1.json"


class JsonReport(JsonDocumentWriter):
    name = "json"
    suffix = ".json"

    def document(self, result: ScanResult) -> dict[str, Any]:
        worst = result.max_severity()
        findings = [
            _finding(f, index) for index, target in enumerate(result.targets) for f in target.iter_findings()
        ]
        return {
            "schema": SCHEMA_ID,
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "modelseal", "version": result.tool_version},
            "targets": [
                {
                    "target": t.target,
                    "root": t.root,
                    "manifest_digest": t.manifest_digest,
                    "lock": t.lock or None,
                    "publisher_tier": t.publisher_tier,
                    "files": len(t.files),
                    "signature": {"state": t.signature, "signer": t.signer} if t.signature else None,
                }
                for t in result.targets
            ],
            "files": [
                {
                    "target": index,
                    "path": escape_path(r.path),
                    "size": r.size,
                    "format": r.format,
                    "digest": r.digest,
                    "findings": len(r.findings),
                    "seconds": round(r.seconds, 6),
                    "imports": list(r.imports),
                }
                for index, t in enumerate(result.targets)
                for r in t.files
            ],
            "findings": findings,
            "summary": {
                "targets": len(result.targets),
                "files": result.file_count,
                "bytes": sum(r.size for t in result.targets for r in t.files),
                "formats": format_counts(result),
                "findings": len(findings),
                "by_severity": severity_counts(result),
                "max_severity": worst.label if worst is not None else None,
                "fail_on": self.options.fail_on.label,
                "failed": result.fails(self.options.fail_on),
                "seconds": round(result.seconds, 6),
            },
        }


def escape_path(path: str) -> str:
    """A path as reports write it: valid UTF-8 whatever the name is on disk. A byte that is not UTF-8 (held
    as a surrogate escape, PEP 383) is written ``\\xNN`` and a backslash ``\\\\``, so the form is reversible;
    names that are UTF-8 without backslashes are written as they are."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        if "\\" not in path:
            return path
    return "".join(_escape_char(c) for c in path)


def _escape_char(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return f"\\u{code:04x}"
    return "\\\\" if c == "\\" else c


def _finding(f: Finding, target: int) -> dict[str, Any]:
    rule = RULES.get(f.rule_id)
    loc = f.location
    return {
        "rule_id": f.rule_id,
        "title": rule.title if rule else f.rule_id,
        "severity": f.severity.label,
        "target": target,
        "file": escape_path(f.file),
        "location": {
            "member": escape_path(loc.member) or None,
            "offset": loc.offset,
            "tensor": loc.tensor or None,
        },
        "message": f.message,
        "evidence": f.evidence,
        "remediation": f.remediation,
    }
