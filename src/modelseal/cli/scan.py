"""``modelseal scan``: parse flags, call :func:`modelseal.api.scan`, render one report, exit with its code.

The report goes to stdout (or ``-o FILE``); progress and messages go to stderr. Exit codes: 0 nothing at
or above ``--fail-on``, 1 findings at or above it (an unparseable file is a finding), 2 the scan could not
run, 3 nothing to scan, 4 usage error. Imports stay inside the command so that ``--help`` and the other
commands do not pay for the scanners, and a JSON or SARIF run never imports rich.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from modelseal.core.findings import Severity
from modelseal.reports import FORMATS

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from modelseal.core.result import ScanResult

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_NOTHING = 0, 1, 2, 3
PROGRESS_MIN_FILES = 8
"""A bar for fewer files only flickers; below this the scan is over before it would help."""

_SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]


def _choice(choices: list[str]) -> Callable[[str], str]:
    """Case-insensitive choices that fail as usage errors (exit 4), on every typer version."""

    def check(value: str) -> str:
        if value.lower() not in choices:
            raise typer.BadParameter(f"{value!r} is not one of: {', '.join(choices)}")
        return value.lower()

    return check


def _say(message: str) -> None:
    sys.stderr.write(f"modelseal: {message}\n")


class _ProgressBar:
    """A rich bar on stderr for long scans, started lazily so short scans never import rich."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.live: tuple[Progress, TaskID] | None = None

    def __call__(self, path: str, done: int, total: int) -> None:
        if self.live is None:
            if not self.enabled or total < PROGRESS_MIN_FILES:
                return
            self.live = self._start(total)
        from rich.markup import escape

        bar, task = self.live
        bar.update(task, completed=done, description=escape(path))  # file names may hold "[...]"

    @staticmethod
    def _start(total: int) -> tuple[Progress, TaskID]:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.description}"),
            console=Console(stderr=True),
            transient=True,
        )
        bar.start()
        return bar, bar.add_task("", total=total)

    def close(self) -> None:
        if self.live is not None:
            self.live[0].stop()


def _run(paths: list[str], config_file: Path | None, digests: bool, **options: Any) -> ScanResult:
    from modelseal.api import scan as api_scan
    from modelseal.core.config import load_config
    from modelseal.core.errors import ModelsealError

    bar = _ProgressBar(sys.stderr.isatty())
    try:
        return api_scan(paths, load_config(config_file), digests=digests, progress=bar, **options)
    except ModelsealError as exc:
        _say(f"error: {exc}")
    except Exception as exc:  # a bug must not read as "findings" (exit 1) or a pass
        _say(f"error: scan stopped by an unexpected {type(exc).__name__}: {exc}")
    finally:
        bar.close()
    raise typer.Exit(EXIT_ERROR)


def _emit(result: ScanResult, fmt: str, output: Path | None, fail_on: Severity) -> None:
    from modelseal.reports import ReportOptions, get_writer

    out: TextIO = sys.stdout
    color = fmt == "text" and output is None and out.isatty()
    writer = get_writer(fmt, ReportOptions(fail_on=fail_on, color=color))
    if output is None:
        try:
            writer.write(result, out)
            out.flush()
        except BrokenPipeError:  # the reader left (`| head`): the report was not delivered, not a pass
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # no second error at exit
            raise typer.Exit(EXIT_ERROR) from None
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            writer.write(result, fh)
    except OSError as exc:
        _say(f"error: cannot write report to {output}: {exc.strerror}")
        raise typer.Exit(EXIT_ERROR) from None
    worst = result.max_severity()
    _say(
        f"{result.file_count} files, {len(result.findings)} findings"
        f"{f' (worst: {worst.label})' if worst is not None else ''}; report written to {output}"
    )


def scan(
    paths: Annotated[
        list[str], typer.Argument(metavar="PATH...", help="Model files, folders or hf://org/name@rev.")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            metavar="[" + "|".join(FORMATS) + "]",
            callback=_choice(list(FORMATS)),
            help="Report format: a terminal view, JSON (versioned schema) or SARIF 2.1.0.",
        ),
    ] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write the report here.")
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            metavar="[" + "|".join(_SEVERITIES) + "]",
            callback=_choice(_SEVERITIES),
            help="Exit 1 when a finding is at or above this severity.",
        ),
    ] = "high",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            exists=True,
            dir_okay=False,
            help="Configuration file (default: modelseal.toml, or the tool.modelseal table of "
            "pyproject.toml, searched from the working folder upwards).",
        ),
    ] = None,
    digests: Annotated[
        bool, typer.Option("--digests/--no-digests", help="Hash every file (manifest digest).")
    ] = True,
    lockfile: Annotated[
        Path | None,
        typer.Option(
            "--lockfile", dir_okay=False, help="Lockfile to compare with (default ./modelseal.lock)."
        ),
    ] = None,
    dynamic: Annotated[
        bool,
        typer.Option(
            "--dynamic",
            help="Also load each file that can run code inside the sandbox and report what it attempts.",
        ),
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Resolve hf:// targets from the local cache only.")
    ] = False,
    weights: Annotated[
        bool,
        typer.Option(
            "--weights", help="Stream every tensor for statistics (NaN/Inf, outliers): reads all weights."
        ),
    ] = False,
) -> None:
    """Scan model files without loading them.

    Exit 0: nothing at or above --fail-on; 1: findings at or above it; 2: error; 3: nothing to scan; 4: usage.
    """
    threshold = Severity.parse(fail_on)
    result = _run(
        paths, config, digests, lockfile=lockfile, dynamic=dynamic, offline=offline, weight_statistics=weights
    )
    _emit(result, fmt, output, threshold)
    if result.fails(threshold):
        raise typer.Exit(EXIT_FINDINGS)
    if result.file_count == 0 and not result.findings:
        _say("nothing to scan: the targets contain no files")
        raise typer.Exit(EXIT_NOTHING)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add ``scan`` to the root app."""
    app.command("scan", no_args_is_help=True)(scan)
