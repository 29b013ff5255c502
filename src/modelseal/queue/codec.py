"""A model version's report as JSON for the results table, and back: the file outcomes use the same
encoding as the worker pipes (:func:`modelseal.parallel.encode_outcome`)."""

from __future__ import annotations

from typing import Any

from modelseal.core.findings import Finding
from modelseal.core.result import FileReport, TargetReport
from modelseal.parallel import decode_outcome, encode_outcome


def _rows(findings: tuple[Finding, ...]) -> list[Any]:
    return list(encode_outcome(("", list(findings), 0.0, None, ()))[3])


def _findings(rows: list[Any]) -> tuple[Finding, ...]:
    return tuple(decode_outcome(["", 0.0, None, rows, []])[1])


def encode_target(report: TargetReport) -> list[Any]:
    files = [
        [f.path, f.size, *encode_outcome((f.format, list(f.findings), f.seconds, f.digest, f.imports))]
        for f in report.files
    ]
    return [
        report.target,
        report.root,
        files,
        report.manifest_digest,
        _rows(report.findings),
        report.lock,
        report.publisher_tier,
    ]


def decode_target(values: list[Any]) -> TargetReport:
    target, root, files, manifest, rows, lock, tier = values
    reports = []
    for path, size, *outcome in files:
        fmt, findings, seconds, digest, imports = decode_outcome(outcome)
        reports.append(FileReport(path, size, fmt, digest, tuple(findings), seconds, imports))
    return TargetReport(target, root, tuple(reports), manifest, _findings(rows), lock, tier)
