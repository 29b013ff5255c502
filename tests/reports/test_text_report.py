"""The terminal view: grouped by file, worst first, a summary, plain text unless colour is asked for."""

from __future__ import annotations

import re
import subprocess
import sys

from modelseal.core.findings import Severity
from modelseal.core.result import ScanResult
from modelseal.reports import ReportOptions, get_writer

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_plain_view_groups_findings_under_their_file(result: ScanResult) -> None:
    text = get_writer("text").render(result)
    assert not ANSI.search(text)
    lines = text.splitlines()

    def at(fragment: str) -> int:
        return next(i for i, line in enumerate(lines) if fragment in line)

    # each finding sits between its file's header and the next file's header
    assert at("evil.pkl  [pickle · 42 B]") < at("MS-PICKLE-DANGEROUS-CALLABLE") < at("ok.bin  [pickle")
    assert at("sub/model.pt  [pytorch-zip · 4.0 KiB]") < at("MS-NUMPY-OBJECT-ARRAY")
    assert at("escape.bin  [not scanned]") < at("MS-FILE-LINK-ESCAPE") < at("evil.pkl  [")
    # worst first inside a file, whatever the scanner's order
    assert at("mypkg.Head") < at("MS-NUMPY-OBJECT-ARRAY")
    assert "at archive/data.pkl, offset 57" in text and "at tensor embeddings" in text
    assert "evidence: GLOBAL posix system at offset 28" in text
    # the same remediation is not repeated for consecutive findings of one rule
    assert text.count("add it to `allow`") == 1
    # clean files are counted, not listed
    assert "weights.safetensors" not in text and text.count("1 file without findings") == 2


def test_summary_and_verdict(result: ScanResult) -> None:
    text = get_writer("text").render(result)
    summary = text[text.index("\nSummary\n") :]
    assert "5 (3 pickle, 1 pytorch-zip, 1 safetensors)" in summary
    assert "1 critical · 3 high · 0 medium · 1 low · 1 info" in summary
    assert result.targets[0].manifest_digest in summary  # type: ignore[operator]
    assert re.search(r"Elapsed +0\.25 s", summary)
    assert text.rstrip().endswith("FAIL: 4 findings at or above high")
    relaxed = get_writer("text", ReportOptions(fail_on=Severity.CRITICAL)).render(result)
    assert relaxed.rstrip().endswith("FAIL: 1 finding at or above critical")
    clean = get_writer("text").render(ScanResult(result.targets[1:], "0.1.0"))
    assert clean.rstrip().endswith("PASS: nothing at or above high")


def test_colour_view_styles_severities(result: ScanResult) -> None:
    text = get_writer("text", ReportOptions(color=True, width=120)).render(result)
    assert ANSI.search(text)
    plain = ANSI.sub("", text)
    assert " CRITICAL " in plain and "MS-PICKLE-DANGEROUS-CALLABLE" in plain and "Summary" in plain
    critical = next(line for line in text.splitlines() if "CRITICAL" in line)
    assert "\x1b[1;37;41m" in critical  # bold white on red


def test_plain_view_does_not_import_rich(result: ScanResult) -> None:
    code = (
        "import sys; from modelseal.reports import get_writer; from modelseal.core.result import ScanResult; "
        "get_writer('text').render(ScanResult((), '0')); get_writer('json').render(ScanResult((), '0')); "
        "get_writer('sarif').render(ScanResult((), '0')); print('rich' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
