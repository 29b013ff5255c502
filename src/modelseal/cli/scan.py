"""``modelseal scan``: parse flags, call :func:`modelseal.api.scan`, render one report, exit with its code.

The report goes to stdout (or ``-o FILE``); progress and messages go to stderr. Exit codes: 0 nothing at
or above ``--fail-on``, 1 findings at or above it (an unparseable file is a finding), 2 the scan could not
run, 3 nothing to scan, 4 usage error.

``scan`` is the command run per file in loops and CI jobs, so its start-up is a budget (≤ 0.15 s, below
picklescan's): it parses its flags with the standard library's argparse instead of typer, whose import alone
costs a third of that budget, and imports the scanners, rich and the other formats only when they are used.
Typer lists it among the other commands through a forwarding command (:func:`register`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from modelseal.api import AUTO_DIGEST_BYTES
from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_NOTHING, EXIT_OK, EXIT_USAGE
from modelseal.core.findings import Severity
from modelseal.reports import FORMATS

if TYPE_CHECKING:
    import typer
    from rich.progress import Progress, TaskID

    from modelseal.api.checks import SignatureCheck
    from modelseal.core.result import ScanResult

PROGRESS_MIN_FILES = 8
"""A bar for fewer files only flickers; below this the scan is over before it would help."""
SUMMARY = "Scan model files without loading them."

_SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter imports shutil (and with it zlib, bz2 and lzma) for the terminal width, once
    per ``add_argument``; the width comes from the terminal directly here."""

    def __init__(self, prog: str) -> None:
        columns = os.environ.get("COLUMNS", "")
        try:
            width = int(columns) if columns.isdigit() else os.get_terminal_size(sys.stdout.fileno()).columns
        except (OSError, ValueError):  # not a terminal, or a stream without a file descriptor
            width = 80
        super().__init__(prog, width=max(40, width - 2))


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 4 (2 means a scan error), with the usage line and no traceback."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise _Exit(EXIT_USAGE)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise _Exit(status)


def _choice(choices: list[str]) -> type[str]:
    """Case-insensitive choice: argparse's ``choices`` compares exactly, so normalise then check."""

    def check(value: str) -> str:
        if value.lower() not in choices:
            raise argparse.ArgumentTypeError(f"{value!r} is not one of: {', '.join(choices)}")
        return value.lower()

    return check  # type: ignore[return-value]


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{value!r} is not an existing file")
    return path


def build_parser(prog: str = "modelseal scan") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description=f"{SUMMARY}\n\nExit 0: nothing at or above --fail-on; 1: findings at or above it; "
        "2: error; 3: nothing to scan; 4: usage.",
        formatter_class=_Formatter,
    )
    add = parser.add_argument
    add("paths", nargs="+", metavar="PATH", help="Model files, folders or hf://org/name@rev.")
    add(
        "-f",
        "--format",
        dest="fmt",
        default="text",
        type=_choice(list(FORMATS)),
        metavar="{" + ",".join(FORMATS) + "}",
        help="Report format: a terminal view, JSON (versioned schema) or SARIF 2.1.0 (default: text).",
    )
    add("-o", "--output", type=Path, help="Write the report to this file instead of stdout.")
    add(
        "--fail-on",
        default="high",
        type=_choice(_SEVERITIES),
        metavar="{" + ",".join(_SEVERITIES) + "}",
        help="Exit 1 when a finding is at or above this severity (default: high).",
    )
    add(
        "-c",
        "--config",
        type=_existing_file,
        help="Configuration file (default: modelseal.toml, or the tool.modelseal table of pyproject.toml, "
        "searched from the working folder upwards).",
    )
    add(
        "--digests",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Hash every file and report the manifest digest (default: for targets up to "
        f"{AUTO_DIGEST_BYTES >> 20} MiB). "
        "--no-digests hashes only files with findings (stable SARIF fingerprints). A lockfile entry for "
        "the target makes every file hashed.",
    )
    add(
        "--no-digest-cache",
        action="store_true",
        help="Read every file to hash it: neither use nor fill the digest cache of unchanged files "
        "(also MODELSEAL_NO_DIGEST_CACHE=1).",
    )
    add("--lockfile", type=Path, help="Lockfile to compare with (default: ./modelseal.lock when present).")
    add(
        "--dynamic",
        action="store_true",
        help="Also load each file that can run code inside the sandbox and report what it attempts.",
    )
    add("--offline", action="store_true", help="Resolve hf:// targets from the local cache only.")
    add(
        "-j",
        "--jobs",
        type=_positive,
        help="Processes that scan the files of a large folder (default: the CPUs available, at most 8).",
    )
    add(
        "--weights",
        action="store_true",
        help="Stream every tensor for statistics (NaN/Inf, outliers): reads all weights.",
    )
    add(
        "--queue",
        metavar="URL",
        help="Have the workers of this PostgreSQL job queue scan the files (modelseal worker; extra queue).",
    )
    add("--public-key", type=Path, metavar="PEM", help="Also check each target's signature with this key.")
    add(
        "--trust-anchor",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="CA for certificate signatures (repeatable); also checks each target's signature.",
    )
    add("--signature", type=Path, metavar="BUNDLE", help="Sigstore bundle to check (default: model.sig).")
    add("--identity", help="Required certificate identity for --trust-anchor.")
    add("--upload", metavar="URL", help="Also upload the JSON report to this registry (modelseal serve).")
    add("--project", help="The registry project for --upload.")
    add("--token", help="API token for --upload (default: MODELSEAL_TOKEN).")
    return parser


def main(argv: list[str], prog: str = "modelseal scan") -> int:
    """Run ``scan`` with ``argv`` (the arguments after ``scan``); returns the exit code."""
    try:
        args = build_parser(prog).parse_args(argv)
        threshold = Severity.parse(args.fail_on)
        if args.upload and not args.project:
            _say("usage: --upload needs --project")
            return EXIT_USAGE
        if args.queue and (args.dynamic or args.weights):
            _say("usage: --dynamic and --weights run in this process; the queue's workers do not run them")
            return EXIT_USAGE
        if args.upload and args.digests is None:
            args.digests = True  # the registry knows a model by its manifest digest
        result = _run(args)
        _emit(result, args.fmt, args.output, threshold)
        if args.upload:
            _upload(result, args.upload, args.project, args.token)
    except _Exit as done:
        return done.code
    if result.fails(threshold):
        return EXIT_FINDINGS
    if result.file_count == 0 and not result.findings:
        _say("nothing to scan: the targets contain no files")
        return EXIT_NOTHING
    return EXIT_OK


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


def _run(args: argparse.Namespace) -> ScanResult:
    from modelseal.api import scan as api_scan
    from modelseal.core.config import load_config
    from modelseal.core.errors import ModelsealError

    bar = _ProgressBar(sys.stderr.isatty())
    if args.no_digest_cache:
        os.environ["MODELSEAL_NO_DIGEST_CACHE"] = "1"  # core.digestcache.ENV_OFF, read in every worker
    try:
        config = load_config(args.config)
        executor = None
        if args.queue:
            from modelseal.api.sweeping import queue_executor

            executor = queue_executor(args.queue, config)
        return api_scan(
            args.paths,
            config,
            digests=args.digests,
            progress=bar,
            lockfile=args.lockfile,
            dynamic=args.dynamic,
            offline=args.offline,
            weight_statistics=args.weights,
            jobs=args.jobs,
            executor=executor,
            signature=_signature_check(args),
        )
    except ModelsealError as exc:
        _say(f"error: {exc.one_line()}")
    except Exception as exc:  # a bug must not read as "findings" (exit 1) or a pass
        _say(f"error: scan stopped by an unexpected {type(exc).__name__}: {exc}")
    finally:
        bar.close()
    raise _Exit(EXIT_ERROR)


def _signature_check(args: argparse.Namespace) -> SignatureCheck | None:
    """A signature check when a key or an anchor says whom to trust (the report then states it)."""
    if args.public_key is None and not args.trust_anchor:
        return None
    from modelseal.api.checks import SignatureCheck

    return SignatureCheck(
        args.signature,
        args.public_key,
        tuple(args.trust_anchor),
        args.identity,
        unchecked_is_unavailable=True,
    )


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
            raise _Exit(EXIT_ERROR) from None
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            writer.write(result, fh)
    except OSError as exc:
        _say(f"error: cannot write report to {output}: {exc.strerror}")
        raise _Exit(EXIT_ERROR) from None
    worst = result.max_severity()
    _say(
        f"{_count(result.file_count, 'file')}, {_count(len(result.findings), 'finding')}"
        f"{f' (worst: {worst.label})' if worst is not None else ''}; report written to {output}"
    )


def _upload(result: ScanResult, server: str, project: str, token: str | None) -> None:
    """``--upload``: send the JSON report to the registry (imported only when asked for)."""
    from modelseal.api.remote import upload
    from modelseal.core.errors import ModelsealError
    from modelseal.reports import ReportOptions, get_writer

    try:
        answer = upload(server, project, get_writer("json", ReportOptions()).render(result).encode(), token)
    except ModelsealError as exc:
        _say(f"error: {exc.one_line()}")
        raise _Exit(EXIT_ERROR) from None
    for model in answer.get("models", []):
        _say(f"uploaded to {project}: {model['digest']} {model['name']} verdict {model['verdict']}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def register(app: typer.Typer) -> None:
    """List ``scan`` in the typer app: a command that hands its raw arguments to :func:`main`."""
    import typer

    def scan(ctx: typer.Context) -> None:
        raise typer.Exit(main(list(ctx.args)))

    scan.__doc__ = f"{SUMMARY} Options: modelseal scan --help."
    scan.__annotations__ = {"ctx": typer.Context, "return": None}  # typer is not a module global here
    app.command(
        "scan",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )(scan)
