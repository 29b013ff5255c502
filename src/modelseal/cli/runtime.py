"""Run-time defences: ``diff-behavior``, ``sanitize``, ``monitor``, ``canary run`` (extra ``runtime``).

Thin: checks options, calls :mod:`modelseal.api.runtime`, renders. Exit codes: 0 the answer is yes (no
deviation, input cleaned, no alert, canaries passed), 1 the answer is no, 2 the command could not do its
work or refused the input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from modelseal.cli.errors import errors_exit

if TYPE_CHECKING:
    from modelseal.api.runtime import RuntimeResult

Format = Annotated[str, typer.Option("--format", help="text or json.")]


@contextmanager
def _errors_exit(fmt: str) -> Iterator[None]:
    """Refused input and unusable models or files are errors (exit 2), never a pass."""

    if fmt not in ("text", "json"):
        raise typer.BadParameter(f"--format must be text or json, not {fmt!r}")
    try:
        with errors_exit():
            yield
    except ImportError as exc:
        typer.echo(f"error: {exc}; install the extra: pip install 'modelseal[runtime,behavior]'", err=True)
        raise typer.Exit(EXIT_ERROR) from None


def _render(fmt: str, result: RuntimeResult) -> None:
    typer.echo(json.dumps(result.payload, indent=2) if fmt == "json" else "\n".join(result.lines))
    raise typer.Exit(EXIT_FINDINGS if result.flagged else EXIT_OK)


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def diff_behavior(
    model_a: Annotated[
        Path, typer.Argument(help="The approved model: TorchScript or ONNX, or a causal LM folder.")
    ],
    model_b: Annotated[Path, typer.Argument(help="The candidate that is to replace it.")],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Clean probes: .npz with arrays x and y; for language models, prompts (text, one per line, "
            "or .npz with ids).",
        ),
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the evidence pictures.")] = None,
    candidates: Annotated[
        Path | None,
        typer.Option(
            "--candidates",
            help="Language models: tokens the phrase search tries (text, or .npz with candidates); "
            "default the whole vocabulary, up to 4096 tokens.",
        ),
    ] = None,
    max_phrase: Annotated[
        int, typer.Option("--max-phrase", min=1, help="Language models: longest phrase searched, in tokens.")
    ] = 3,
    fmt: Format = "text",
    threads: Annotated[int, typer.Option("--threads", min=1, help="CPU threads torch may use.")] = 1,
) -> None:
    """Compare B with A and search for inputs (or, for language models, phrases) where B alone moves.
    Exit 1 if B deviates."""
    with _errors_exit(fmt):
        _threads(threads)
        from modelseal.api import runtime

        if model_a.is_dir():
            request = runtime.LMDiffRequest(model_a, model_b, data, candidates, max_phrase=max_phrase)
            result = runtime.diff_language_models(request)
        else:
            result = runtime.diff_behavior(runtime.DiffRequest(model_a, model_b, data, out))
    _render(fmt, result)


def sanitize(
    file: Annotated[
        Path, typer.Argument(help="Image (JPEG, PNG, WebP), UTF-8 text, WAV or FLAC audio, or PDF.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the cleaned input.")],
    fmt: Format = "text",
) -> None:
    """Clean an input of trigger carriers and metadata; print what was removed. Exit 2 if refused."""
    with _errors_exit(fmt):
        from modelseal.api.runtime import SanitizeRequest, sanitize_file

        result = sanitize_file(SanitizeRequest(file, out))
    _render(fmt, result)


def monitor(
    records: Annotated[Path, typer.Argument(help="JSON lines of logged inputs / outputs, one request each.")],
    reference: Annotated[
        Path, typer.Option("--reference", help="Reference profile (.json) or reference records (JSON lines).")
    ],
    window: Annotated[int, typer.Option("--window", min=10, help="Records per drift window.")] = 500,
    metrics: Annotated[Path | None, typer.Option("--metrics", help="Write Prometheus metrics here.")] = None,
    save_profile: Annotated[
        Path | None, typer.Option("--save-profile", help="Store the reference profile (.json).")
    ] = None,
    fmt: Format = "text",
) -> None:
    """Replay logged requests against a reference: drift, change points, accuracy. Exit 1 on alerts."""
    with _errors_exit(fmt):
        from modelseal.api.runtime import MonitorRequest
        from modelseal.api.runtime import monitor as run_monitor

        result = run_monitor(MonitorRequest(records, reference, window, metrics, save_profile))
    _render(fmt, result)


def canary_run(
    model: Annotated[Path, typer.Argument(help="The served model (TorchScript or ONNX).")],
    probes: Annotated[
        Path, typer.Option("--probes", help=".npz with x, y and optionally probs, mask, pattern, target.")
    ],
    tolerance: Annotated[float, typer.Option("--tolerance", help="Largest probability change.")] = 0.05,
    every: Annotated[float, typer.Option("--every", min=0.0, help="Seconds between runs.")] = 0.0,
    count: Annotated[int, typer.Option("--count", min=1, help="Number of runs.")] = 1,
    fmt: Format = "text",
) -> None:
    """Run known-answer and trigger canaries against a model. Exit 1 if any run fails."""
    with _errors_exit(fmt):
        _threads(1)
        from modelseal.api.runtime import CanaryRequest
        from modelseal.api.runtime import canary_run as run_canary

        result = run_canary(CanaryRequest(model, probes, tolerance, every, count))
    _render(fmt, result)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("diff-behavior")(diff_behavior)
    app.command("sanitize")(sanitize)
    app.command("monitor")(monitor)
    group = typer.Typer(help="Canary probes against a served model.", no_args_is_help=True)
    group.command("run")(canary_run)
    app.add_typer(group, name="canary")
