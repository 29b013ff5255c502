"""The terminal view: findings grouped by file, worst first, then a summary table.

One layout, two renderings: styled with rich when the report goes to a terminal, plain text otherwise
(logs, pipes, files), so rich is imported only when colour is wanted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, TextIO

from modelseal.core.findings import Finding, Severity
from modelseal.core.result import ScanResult, TargetReport
from modelseal.reports.interface import ReportWriter, format_counts, severity_counts

if TYPE_CHECKING:
    from rich.console import Console

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
_BADGE = max(len(s.name) for s in Severity)


# Layout records are NamedTuples, not dataclasses: same immutability, a fraction of the import time
# (the text view is on the start-up path of every `modelseal scan`).
class _Row(NamedTuple):
    severity: Severity
    rule_id: str
    message: str
    details: tuple[str, ...]


class _Group(NamedTuple):
    """The findings of one file (or of the target itself, for entries refused while resolving)."""

    title: str
    subtitle: str
    rows: tuple[_Row, ...]


class _Layout(NamedTuple):
    heading: str
    targets: tuple[tuple[str, tuple[_Group, ...], int], ...]
    """(target name, groups with findings, number of files without findings)."""
    summary: tuple[tuple[str, str], ...]
    verdict: str
    failed: bool


class TextReport(ReportWriter):
    name = "text"
    suffix = ".txt"

    def write(self, result: ScanResult, out: TextIO) -> None:
        layout = _layout(result, self.options.fail_on)
        if self.options.color:
            _write_rich(layout, out, self.options.width)
        else:
            _write_plain(layout, out)


def _layout(result: ScanResult, fail_on: Severity) -> _Layout:
    targets = tuple(_target(t) for t in result.targets)
    counts = severity_counts(result)
    formats = format_counts(result)
    files = f"{result.file_count}" + (
        f" ({', '.join(f'{n} {fmt}' for fmt, n in formats.items())})" if formats else ""
    )
    summary = [
        ("Files", files),
        ("Size", _size(sum(r.size for t in result.targets for r in t.files))),
        ("Findings", " · ".join(f"{n} {label}" for label, n in counts.items())),
    ]
    for i, t in enumerate(result.targets):
        digest = t.manifest_digest or "not computed (--digests computes it)"
        summary.append(
            ("Manifest" if i == 0 else "", digest if len(result.targets) == 1 else f"{digest}  {t.target}")
        )
        if t.lock:
            summary.append(("Lock", f"{t.lock}  {t.target}"))
        if t.publisher_tier is not None:
            summary.append(("Publisher", f"tier {t.publisher_tier}  {t.target}"))
    summary.append(("Elapsed", f"{result.seconds:.2f} s"))
    failed = result.fails(fail_on)
    above = sum(1 for f in result.iter_findings() if f.severity >= fail_on)
    verdict = (
        f"FAIL: {_count(above, 'finding')} at or above {fail_on.label}"
        if failed
        else f"PASS: nothing at or above {fail_on.label}"
    )
    scanned = f"{_count(len(result.targets), 'target')}, {_count(result.file_count, 'file')}"
    heading = f"modelseal {result.tool_version}: {scanned}"
    return _Layout(heading, targets, tuple(summary), verdict, failed)


def _target(target: TargetReport) -> tuple[str, tuple[_Group, ...], int]:
    groups: list[_Group] = []
    loose: dict[str, list[Finding]] = {}
    for f in target.findings:
        loose.setdefault(f.file, []).append(f)
    groups.extend(_Group(path or target.target, "not scanned", _rows(fs)) for path, fs in loose.items())
    clean = 0
    for report in target.files:
        if not report.findings:
            clean += 1
            continue
        groups.append(_Group(report.path, f"{report.format} · {_size(report.size)}", _rows(report.findings)))
    return target.target, tuple(groups), clean


def _rows(findings: tuple[Finding, ...] | list[Finding]) -> tuple[_Row, ...]:
    rows = []
    previous_fix = ""
    for f in sorted(findings, key=lambda f: -f.severity):
        details = []
        where = f.location.describe()
        if where:
            details.append(f"at {where}")
        if f.evidence:
            details.append(f"evidence: {f.evidence}")
        if f.remediation and f.remediation != previous_fix:
            details.append(f"fix: {f.remediation}")
        previous_fix = f.remediation
        rows.append(_Row(f.severity, f.rule_id, f.message, tuple(details)))
    return tuple(rows)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _write_plain(layout: _Layout, out: TextIO) -> None:
    pad = " " * (_BADGE + 6)
    out.write(f"{layout.heading}\n")
    for name, groups, clean in layout.targets:
        out.write(f"\n{name}\n")
        for group in groups:
            out.write(f"  {group.title}  [{group.subtitle}]\n")
            for row in group.rows:
                out.write(f"    {row.severity.name:<{_BADGE}}  {row.rule_id}  {row.message}\n")
                out.writelines(f"{pad}{d}\n" for d in row.details)
        if clean:
            out.write(f"  {_count(clean, 'file')} without findings\n")
    out.write("\nSummary\n")
    width = max(len(k) for k, _ in layout.summary)
    out.writelines(f"  {key:<{width}}  {value}\n" for key, value in layout.summary)
    out.write(f"\n{layout.verdict}\n")


def _write_rich(layout: _Layout, out: TextIO, width: int | None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, force_terminal=True, width=width, highlight=False, soft_wrap=False)
    console.print(Text(layout.heading, style="bold"))
    for name, groups, clean in layout.targets:
        console.print()
        console.print(Text(name, style="bold underline"))
        for group in groups:
            console.print(Text.assemble("  ", (group.title, "bold"), "  ", (group.subtitle, "dim")))
            grid = Table.grid(padding=(0, 2))
            grid.add_column(width=_BADGE + 2, no_wrap=True)
            grid.add_column(ratio=1)
            for row in group.rows:
                body = Text.assemble((row.rule_id, "bold"), "  ", row.message)
                for detail in row.details:
                    body.append(f"\n{detail}", style="dim")
                grid.add_row(Text(f" {row.severity.name} ", style=_STYLE[row.severity]), body)
            _indented(console, grid)
        if clean:
            console.print(Text(f"  {_count(clean, 'file')} without findings", style="green"))
    console.print()
    table = Table(title="Summary", title_justify="left", show_header=False, title_style="bold")
    table.add_column(style="bold")
    table.add_column()
    for key, value in layout.summary:
        table.add_row(key, value)
    console.print(table)
    console.print(Text(layout.verdict, style="bold red" if layout.failed else "bold green"))


def _indented(console: Console, renderable: object) -> None:
    from rich.padding import Padding

    console.print(Padding(renderable, (0, 0, 0, 4)))  # type: ignore[arg-type]
