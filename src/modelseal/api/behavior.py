"""``inspect`` and ``inspect_data``: behavioural backdoor and poisoning checks (extra ``behavior``).

Loads the model and the samples through the safe loaders and runs the detectors; the result carries the
findings and both renderings (a JSON payload, text lines) the CLI prints. torch is imported only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelseal.behavior.loading import LoadedModel, Samples, load_model, load_samples
from modelseal.core.findings import Finding


@dataclass(frozen=True)
class InspectRequest:
    model: Path
    """TorchScript (.pt) or ONNX classifier; pickled checkpoints are refused."""
    data: Path
    """Clean samples: .npz with arrays x and y."""
    out: Path | None = None
    """Folder for the trigger and mask PNGs (image models)."""


@dataclass(frozen=True)
class InspectResult:
    findings: tuple[Finding, ...]
    payload: dict[str, Any]
    """The JSON document."""
    lines: tuple[str, ...]
    """The text report."""


def _finding_dicts(findings: tuple[Finding, ...]) -> list[dict[str, Any]]:
    return [
        {"rule_id": f.rule_id, "severity": f.severity.label, "message": f.message, "evidence": f.evidence}
        for f in findings
    ]


def inspect(req: InspectRequest) -> InspectResult:
    """Look for a neural backdoor: trigger inversion, or a token search for text models."""
    loaded, samples = load_model(req.model), load_samples(req.data)
    found, payload, lines = (
        _inspect_text(loaded, samples) if samples.is_text else _inspect_image(loaded, samples, req.out)
    )
    findings = tuple(found)
    payload = {"model": str(req.model), "kind": loaded.kind, **payload, "findings": _finding_dicts(findings)}
    return InspectResult(findings, payload, (*lines, *(f"  {f.rule_id}: {f.message}" for f in findings)))


Rendered = tuple[list[Finding], dict[str, Any], list[str]]
"""Findings, the JSON payload and the text lines of one inspection."""


def _inspect_text(loaded: LoadedModel, samples: Samples) -> Rendered:
    from modelseal.behavior.findings import text_findings
    from modelseal.behavior.text import search_trigger_tokens

    text = search_trigger_tokens(loaded.module, samples)
    payload = {"suspected": text.suspected, "target": text.target,
               "triggers": [vars(t) for t in text.triggers], "seconds": round(text.seconds, 2)}  # fmt: skip
    lines = [f"{loaded.path}: {'BACKDOOR SUSPECTED' if text.suspected else 'no backdoor found'} (text)"]
    lines += [
        f"  token {t.token} -> class {t.target}: flips {t.flip_rate:.0%}, score {t.score:.1f}, "
        f"perplexity gain {t.perplexity_gain:.2f}"
        for t in text.triggers
    ]
    return list(text_findings(text, loaded.path)), payload, lines


def _inspect_image(loaded: LoadedModel, samples: Samples, out: Path | None) -> Rendered:
    from modelseal.behavior.findings import trigger_findings
    from modelseal.behavior.images import save_trigger_images
    from modelseal.behavior.trigger import invert_triggers

    report = invert_triggers(loaded.module, samples)
    top = max(report.classes, key=lambda c: c.score)
    images = [str(p) for p in save_trigger_images(report, top.label, out)] if out else []
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
    return list(trigger_findings(report, loaded.path)), payload, lines


@dataclass(frozen=True)
class InspectDataRequest:
    model: Path
    data: Path
    """Training set: .npz with arrays x and y."""
    clean: Path | None = None
    """Trusted clean samples for the inversion."""


def inspect_data(req: InspectDataRequest) -> InspectResult:
    """Find poisoned training samples (penultimate-layer clustering, spectral signatures)."""
    from modelseal.behavior.findings import poison_findings
    from modelseal.behavior.poison import find_poison

    loaded, train = load_model(req.model), load_samples(req.data)
    report = find_poison(loaded.module, train, clean=load_samples(req.clean) if req.clean else None)
    found = tuple(poison_findings(report, str(req.data)))
    pairs = [(int(i), round(float(s), 3)) for i, s in zip(report.indices, report.scores, strict=True)]
    payload = {
        "model": str(req.model), "data": str(req.data), "suspected": report.suspected,
        "classes": [vars(c) for c in report.classes],
        "poisoned": [{"index": i, "score": s} for i, s in pairs],
        "seconds": round(report.seconds, 2), "findings": _finding_dicts(found),
    }  # fmt: skip
    lines = [
        f"{req.data}: {len(pairs)} suspected poisoned samples"
        if pairs
        else f"{req.data}: no poisoned samples found"
    ]
    lines += [f"  class {c.label}: {c.suspected} of {c.samples} samples" for c in report.classes]
    lines += [f"  index {i}  score {s}" for i, s in pairs]
    return InspectResult(found, payload, tuple(lines))
