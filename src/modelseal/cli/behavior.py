"""``modelseal inspect`` and ``modelseal inspect-data``: behavioural backdoor inspection (extra ``behavior``).

Thin: loads the model and samples through the safe loaders, calls the detectors, renders. torch is imported
only when one of these commands runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelseal.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK

if TYPE_CHECKING:
    from modelseal.behavior.loading import LoadedModel, Samples
    from modelseal.behavior.trigger import Progress


Model = Annotated[
    Path, typer.Argument(help="TorchScript (.pt) or ONNX classifier; pickled checkpoints are refused.")
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


@contextmanager
def _errors_exit() -> Iterator[None]:
    """A model or sample file that cannot be inspected is an error (exit 2), never a pass."""
    from modelseal.core.errors import ModelsealError

    try:
        yield
    except ModelsealError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None


def _emit(fmt: str, payload: dict[str, Any], lines: list[str]) -> None:
    if fmt == "json":
        typer.echo(json.dumps(payload, indent=2))
    else:
        typer.echo("\n".join(lines))


def _finding_dicts(findings: list[Any]) -> list[dict[str, Any]]:
    return [
        {"rule_id": f.rule_id, "severity": f.severity.label, "message": f.message, "evidence": f.evidence}
        for f in findings
    ]


def _open(model: Path, data: Path, threads: int, fmt: str) -> tuple[LoadedModel, Samples]:
    """Check options, refuse a model that is not TorchScript or ONNX (before torch is imported, so at once),
    import torch, load the model and the samples through the safe loaders."""
    from modelseal.behavior.loading import model_kind

    with _errors_exit():
        model_kind(model)
    _prepare(threads, fmt)
    from modelseal.behavior.loading import load_model, load_samples

    with _errors_exit():
        return load_model(model), load_samples(data)


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


Rendered = tuple[list[Any], dict[str, Any], list[str]]
"""Findings, the JSON payload and the text lines of one inspection."""


def _inspect_text(loaded: LoadedModel, samples: Samples) -> Rendered:
    from modelseal.behavior.findings import text_findings
    from modelseal.behavior.text import search_trigger_tokens

    with _progress(f"{loaded.path}: inserting every token") as progress:
        text = search_trigger_tokens(loaded.module, samples, progress=progress)
    payload = {"suspected": text.suspected, "target": text.target,
               "triggers": [vars(t) for t in text.triggers], "seconds": round(text.seconds, 2)}  # fmt: skip
    lines = [f"{loaded.path}: {'BACKDOOR SUSPECTED' if text.suspected else 'no backdoor found'} (text)"]
    lines += [
        f"  token {t.token} -> class {t.target}: flips {t.flip_rate:.0%}, score {t.score:.1f}, "
        f"perplexity gain {t.perplexity_gain:.2f}"
        for t in text.triggers
    ]
    return text_findings(text, loaded.path), payload, lines


def _inspect_image(loaded: LoadedModel, samples: Samples, out: Path | None) -> Rendered:
    from modelseal.behavior.findings import trigger_findings
    from modelseal.behavior.images import save_trigger_images
    from modelseal.behavior.trigger import invert_triggers

    with _progress(f"{loaded.path}: trigger inversion") as progress:
        report = invert_triggers(loaded.module, samples, progress=progress)
    # Images only of a suspected trigger: the smallest mask of a clean model is no trigger to look at.
    target = report.target if report.suspected else None
    images = [str(p) for p in save_trigger_images(report, target, out)] if out and target is not None else []
    payload = {"suspected": report.suspected, "target": report.target, "score": round(report.score, 3),
               "threshold": report.threshold, "images": images, "classes": [vars(c) for c in report.classes],
               "seconds": round(report.seconds, 2)}  # fmt: skip
    verdict = f"BACKDOOR SUSPECTED, target class {report.target}" if report.suspected else "no backdoor found"
    lines = [f"{loaded.path}: {verdict} (anomaly {report.score:.2f}, threshold {report.threshold:.2f})"]
    lines += [
        f"  class {c.label}: mask {c.mask_size:.3f}  change {c.perturbation:.3f}  "
        f"success {c.attack_success:.2f}  score {c.score:.2f}"
        for c in report.classes
    ]
    lines += [f"  wrote {p}" for p in images]
    return trigger_findings(report, loaded.path), payload, lines


def inspect(
    model: Model,
    data: Annotated[Path, typer.Option("--data", help="Clean samples: .npz with arrays x and y.")],
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the trigger and mask PNGs.")] = None,
    fmt: Format = "text",
    threads: Threads = 1,
) -> None:
    """Look for a neural backdoor (trigger inversion; token search for text models). Exit 1 if found."""
    loaded, samples = _open(model, data, threads, fmt)
    with _errors_exit():
        found, payload, lines = (
            _inspect_text(loaded, samples) if samples.is_text else _inspect_image(loaded, samples, out)
        )
    payload = {"model": str(model), "kind": loaded.kind, **payload, "findings": _finding_dicts(found)}
    _emit(fmt, payload, lines + [f"  {f.rule_id}: {f.message}" for f in found])
    raise typer.Exit(EXIT_FINDINGS if found else EXIT_OK)


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
    loaded, train = _open(model, data, threads, fmt)
    from modelseal.behavior.findings import poison_findings
    from modelseal.behavior.loading import load_samples
    from modelseal.behavior.poison import find_poison

    with _errors_exit(), _progress(f"{data}: trigger inversion") as progress:
        report = find_poison(
            loaded.module, train, clean=load_samples(clean) if clean else None, progress=progress
        )
    found = poison_findings(report, str(data))
    pairs = [(int(i), round(float(s), 3)) for i, s in zip(report.indices, report.scores, strict=True)]
    payload = {
        "model": str(model), "data": str(data), "suspected": report.suspected,
        "classes": [vars(c) for c in report.classes],
        "poisoned": [{"index": i, "score": s} for i, s in pairs],
        "seconds": round(report.seconds, 2), "findings": _finding_dicts(found),
    }  # fmt: skip
    lines = [
        f"{data}: {len(pairs)} suspected poisoned samples" if pairs else f"{data}: no poisoned samples found"
    ]
    lines += [f"  class {c.label}: {c.suspected} of {c.samples} samples" for c in report.classes]
    lines += [f"  index {i}  score {s}" for i, s in pairs]
    _emit(fmt, payload, lines)
    raise typer.Exit(EXIT_FINDINGS if found else EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("inspect")(inspect)
    app.command("inspect-data")(inspect_data)
