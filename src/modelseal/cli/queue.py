"""``modelseal worker`` and ``modelseal sweep``: scanning a hub mirror on a PostgreSQL job queue.

``sweep MIRROR --queue URL`` enqueues every snapshot and exits 0; with ``--wait`` it shows the sweep's
progress (counts, throughput, failures) and then writes one report over every model version, exiting 1
when any is flagged (a finding at or above ``--fail-on``). ``worker`` runs until SIGTERM, which lets the
running jobs finish. Exit codes: 0 done, 1 flagged, 2 error, 4 usage. Needs the ``queue`` extra.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from modelseal.cli.errors import errors_exit
from modelseal.core.findings import Severity
from modelseal.reports import FORMATS

if TYPE_CHECKING:
    from rich.table import Table

    from modelseal.queue.results import SweepProgress

QueueOpt = Annotated[
    str,
    typer.Option(
        "--queue",
        envvar="MODELSEAL_DATABASE_URL",
        help="The queue's PostgreSQL URL (default: the registry's, MODELSEAL_DATABASE_URL).",
    ),
]


def worker_command(
    queue: QueueOpt,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Jobs run at once.")] = 1,
    attempts: Annotated[int, typer.Option("--attempts", min=1, help="Tries per file before failed.")] = 3,
    job_timeout: Annotated[float, typer.Option("--job-timeout", help="Seconds one scan may take.")] = 600.0,
    memory_mb: Annotated[
        int, typer.Option("--memory-mb", min=0, help="Address space of each scan process (0: no limit).")
    ] = 8192,
    backoff: Annotated[int, typer.Option("--backoff", min=1, help="Retry n waits backoff**n seconds.")] = 2,
    heartbeat: Annotated[float, typer.Option("--heartbeat", help="Seconds between heartbeats.")] = 5.0,
    stalled_after: Annotated[
        float,
        typer.Option("--stalled-after", help="Seconds of silence after which a worker is presumed dead."),
    ] = 30.0,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between looks for new jobs.")] = 1.0,
    keep_jobs: Annotated[
        bool, typer.Option("--keep-jobs", help="Keep finished jobs in the queue's tables (audit, tests).")
    ] = False,
) -> None:
    """Run a queue worker until stopped (SIGTERM finishes the running jobs first)."""
    from modelseal.api.sweeping import WorkerRequest, WorkerSettings, work

    logging.basicConfig(level=logging.WARNING, format="modelseal worker: %(message)s")
    settings = WorkerSettings(
        concurrency,
        attempts,
        backoff,
        job_timeout,
        memory_mb,
        heartbeat,
        stalled_after,
        poll,
        keep_jobs=keep_jobs,
    )
    with errors_exit():
        work(WorkerRequest(queue, settings))


def sweep_command(
    mirror: Annotated[Path, typer.Argument(help="A folder laid out like the Hugging Face cache.")],
    queue: QueueOpt,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for every version, then report.")] = False,
    priority: Annotated[
        str, typer.Option("--priority", help="ci, user or background (re-verification).")
    ] = "user",
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"Report format with --wait: {', '.join(FORMATS)}.")
    ] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here.")] = None,
    fail_on: Annotated[str, typer.Option("--fail-on", help="Flag a version at this severity.")] = "high",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Configuration file.")] = None,
) -> None:
    """Judge every model snapshot of a mirror on the job queue (modelseal worker runs the jobs)."""
    from modelseal.api.sweeping import SweepRequest, sweep, sweep_progress, sweep_report
    from modelseal.core.config import load_config

    if fmt not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}", param_hint="--format")
    threshold = Severity.parse(fail_on)
    with errors_exit():
        started = sweep(SweepRequest(mirror, queue, priority, load_config(config)))
        typer.echo(
            f"sweep {started.sweep}: {started.versions} model versions, "
            f"{started.blobs_total} distinct files, {started.blobs_enqueued} to scan "
            f"({started.bytes_enqueued:,} of {started.bytes_total:,} bytes)",
            err=True,
        )
        if not wait:
            raise typer.Exit(EXIT_OK)
        state = _watch(lambda: sweep_progress(queue, started.sweep, threshold))
        result = sweep_report(queue, started.sweep, state.seconds)
    _write(result, fmt, output, threshold)
    raise typer.Exit(EXIT_FINDINGS if state.flagged else EXIT_OK)


def _watch(look: Callable[[], SweepProgress]) -> SweepProgress:
    """Poll the sweep until every version is done, with a live view on a terminal."""
    from rich.console import Console
    from rich.live import Live

    console = Console(stderr=True)
    state = look()
    with Live(_view(state), console=console, transient=True, auto_refresh=False) as live:
        while not state.finished:
            time.sleep(0.5)
            state = look()
            if console.is_terminal:
                live.update(_view(state), refresh=True)
    typer.echo(_line(state), err=True)
    return state


def _line(state: SweepProgress) -> str:
    rate = state.done / state.seconds if state.seconds > 0 else 0.0
    return (
        f"{state.done}/{state.total} versions done, {rate:.1f}/s, {state.flagged} flagged, "
        f"{state.failed} with unscannable files; dedup: {state.blobs_total - state.blobs_enqueued} of "
        f"{state.blobs_total} files and {state.bytes_total - state.bytes_enqueued:,} bytes not scanned again"
    )


def _view(state: SweepProgress) -> Table:
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_row("sweep", ProgressBar(total=max(state.total, 1), completed=state.done, width=40))
    grid.add_row("", _line(state))
    return grid


def _write(result: object, fmt: str, output: Path | None, threshold: Severity) -> None:
    from modelseal.core.result import ScanResult
    from modelseal.reports import ReportOptions, get_writer

    assert isinstance(result, ScanResult)
    writer = get_writer(fmt, ReportOptions(fail_on=threshold))
    try:
        if output is None:
            writer.write(result, sys.stdout)
        else:
            with open(output, "w", encoding="utf-8") as fh:
                writer.write(result, fh)
    except OSError as exc:
        typer.echo(f"error: cannot write the report: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
    app.command("sweep")(sweep_command)
