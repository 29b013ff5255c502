"""``modelseal inspect`` and ``modelseal inspect-data``: behavioural backdoor inspection (extra ``behavior``).

Thin: checks options, calls :mod:`modelseal.api.behavior` (safe loaders, detectors), renders. torch is
imported only when one of these commands runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelseal.cli import EXIT_FINDINGS, EXIT_OK
from modelseal.cli.errors import errors_exit

if TYPE_CHECKING:
    from modelseal.api.behavior import InspectResult
    from modelseal.behavior.trigger import Progress


Model = Annotated[
    Path,
    typer.Argument(
        metavar="MODEL", help="TorchScript (.pt) or ONNX classifier; pickled checkpoints are refused."
    ),
]
Format = Annotated[str, typer.Option("--format", help="text or json.")]
Threads = Annotated[int, typer.Option("--threads", min=1, help="CPU threads torch may use.")]


def _prepare(threads: int, fmt: str) -> None:
    if fmt not in ("text", "json"):
        raise typer.BadParameter(f"--format must be text or json, not {fmt!r}")
    from modelseal.core.extras import require

    require("behavior", "torch", feature="behavioural inspection")
    import torch

    torch.set_num_threads(threads)


def _open(model: Path, threads: int, fmt: str) -> None:
    """Check options and refuse a model that is not TorchScript or ONNX before torch is imported (at once)."""
    from modelseal.api.behavior import check_model

    with errors_exit():
        check_model(model)
    _prepare(threads, fmt)


@contextmanager
def _progress(what: str) -> Iterator[Progress]:
    """A progress bar on stderr while a long inspection runs (only on a terminal: logs stay clean)."""
    from rich.console import Console
    from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    with Bar(
        TextColumn(what),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(what, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _emit(fmt: str, payload: dict[str, Any], lines: list[str]) -> None:
    if fmt == "json":
        typer.echo(json.dumps(payload, indent=2))
    else:
        typer.echo("\n".join(lines))


def _render(fmt: str, result: InspectResult) -> None:
    _emit(fmt, result.payload, list(result.lines))
    raise typer.Exit(EXIT_FINDINGS if result.findings else EXIT_OK)


def inspect(
    model: Model,
    data: Annotated[Path, typer.Option("--data", help="Clean samples: .npz with arrays x and y.")],
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the trigger and mask PNGs.")] = None,
    fmt: Format = "text",
    threads: Threads = 1,
) -> None:
    """Look for a neural backdoor (trigger inversion; token search for text models). Exit 1 if found."""
    _open(model, threads, fmt)
    from modelseal.api.behavior import InspectRequest
    from modelseal.api.behavior import inspect as run_inspect

    with errors_exit(), _progress(f"{model}: searching for a trigger") as progress:
        result = run_inspect(InspectRequest(model, data, out, progress))
    _render(fmt, result)


def inspect_data(
    model: Model,
    data: Annotated[Path, typer.Option("--data", help="Training set: .npz with arrays x and y.")],
    clean: Annotated[
        Path | None, typer.Option("--clean", help="Trusted clean samples for the inversion.")
    ] = None,
    fmt: Format = "text",
    threads: Threads = 1,
) -> None:
    """Find poisoned training samples (penultimate-layer clustering, spectral signatures). Exit 1 if any."""
    _open(model, threads, fmt)
    from modelseal.api.behavior import InspectDataRequest
    from modelseal.api.behavior import inspect_data as run_inspect_data

    with errors_exit(), _progress(f"{data}: trigger inversion") as progress:
        result = run_inspect_data(InspectDataRequest(model, data, clean, progress))
    _render(fmt, result)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("inspect")(inspect)
    app.command("inspect-data")(inspect_data)
