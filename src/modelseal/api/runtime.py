"""Run-time compositions (extra ``runtime``): diff_behavior, diff_language_models, sanitize_file, monitor,
canary_run.

Each loads what it needs through the safe loaders (TorchScript or ONNX models, ``.npz`` without pickle,
JSON lines), runs the stages of :mod:`modelseal.defense`, and returns the findings with both renderings
(a JSON payload, text lines) the CLI prints. torch is imported only by the compositions that run a model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelseal.core.findings import Finding, Location
from modelseal.core.rules import make_finding

if TYPE_CHECKING:
    from modelseal.defense.abtest import DiffReport
    from modelseal.defense.sanitize import Sanitized


@dataclass(frozen=True)
class RuntimeResult:
    """What every run-time composition returns."""

    findings: tuple[Finding, ...]
    payload: dict[str, Any]
    """The JSON document."""
    lines: tuple[str, ...]
    """The text report."""
    flagged: bool = False
    """The command's answer is no: B deviates, alerts were raised, canaries failed."""


# ------------------------------------------------------------------ diff-behavior
@dataclass(frozen=True)
class DiffRequest:
    model_a: Path
    """The approved model (TorchScript or ONNX)."""
    model_b: Path
    """The candidate that is to replace it."""
    data: Path
    """Clean probes: .npz with arrays x and y."""
    out: Path | None = None
    """Folder for the evidence pictures (B's trigger and mask)."""


def _describe(d: Any) -> str:
    where = (
        f", region rows {d.region[0]}-{d.region[1] - 1} cols {d.region[2]}-{d.region[3] - 1}"
        if d.region
        else ""
    )
    token = f", trigger token {d.token}" if d.token is not None else ""
    return (
        f"{d.model} alone moves to class {d.target}{token}{where}: its trigger sends {d.success:.0%} of "
        f"other-class probes there ({'A' if d.model == 'B' else 'B'}: {d.reference_success:.0%}), "
        f"anomaly {d.score:.1f}"
    )


def diff_behavior(req: DiffRequest) -> RuntimeResult:
    """A/B differential test of two classifiers on the same probes."""
    from modelseal.behavior.loading import load_model, load_samples
    from modelseal.defense.abtest import as_dict, diff_classifiers

    a, b, samples = load_model(req.model_a), load_model(req.model_b), load_samples(req.data)
    report = diff_classifiers(a.module, b.module, samples)
    images = _evidence(report, req.out) if req.out else []
    findings = tuple(_diff_findings(report, str(req.model_b)))
    payload = {
        "model_a": str(req.model_a),
        "model_b": str(req.model_b),
        **as_dict(report),
        "images": images,
        "findings": [{"rule_id": f.rule_id, "message": f.message} for f in findings],
    }
    verdict = "B DEVIATES from A" if report.deviates else "no deviation of B from A"
    lines = [
        f"{req.model_b}: {verdict} (disagreement {report.disagreement:.1%}, confident "
        f"{report.confident_disagreement:.1%}, tolerance {report.tolerance:.0%})",
        *(f"  {_describe(d)}" for d in report.deviations),
        *(f"  A says {x}, B says {y}: {n} probes" for x, y, n in report.flips),
        *(f"  wrote {p}" for p in images),
        *(f"  {f.rule_id}: {f.message}" for f in findings),
    ]
    return RuntimeResult(findings, payload, tuple(lines), report.deviates)


def _evidence(report: DiffReport, out: Path) -> list[str]:
    from modelseal.behavior.images import save_trigger_images

    written = []
    for d in report.deviations:
        inversion = report.b_inversion if d.model == "B" else report.a_inversion
        if inversion is not None:
            paths = save_trigger_images(inversion, d.target, out / f"model-{d.model}")
            written += [str(p) for p in paths]
    return written


def _diff_findings(report: DiffReport, file: str) -> Iterator[Finding]:
    if not report.deviates:
        return
    d = report.b_deviation
    if d is not None:
        evidence = f"success={d.success:.3f} reference={d.reference_success:.3f} score={d.score:.2f}"
        where = Location(tensor=f"class {d.target}")
        yield make_finding("MS-BEHAVIOR-DIFF", _describe(d), file=file, location=where, evidence=evidence)
    else:
        share = f"{report.confident_disagreement:.1%} of the probes (tolerance {report.tolerance:.0%})"
        yield make_finding("MS-BEHAVIOR-DIFF", f"B's confident answers differ from A's on {share}", file=file)


# ------------------------------------------------------------------ diff-behavior, language models
@dataclass(frozen=True)
class LMDiffRequest:
    model_a: Path
    """The approved causal language model (a Hugging Face folder with safetensors weights)."""
    model_b: Path
    """The candidate that is to replace it."""
    prompts: Path
    """Probe prompts: text, one per line (needs A's tokenizer.json), or .npz with an ``ids`` array."""
    candidates: Path | None = None
    """Tokens the phrase search tries: text (its tokens) or .npz ``candidates``; default the vocabulary."""
    max_vocab: int = 4096
    """Largest vocabulary searched whole when no candidates are given."""
    max_phrase: int = 3
    beam: int = 4


def diff_language_models(req: LMDiffRequest) -> RuntimeResult:
    """A/B differential test of two causal language models: next-token distributions on the probes, and
    a search for the phrase after which B alone moves (:mod:`modelseal.defense.lmdiff`)."""
    from modelseal.behavior.language import load_language_model, load_token_ids
    from modelseal.behavior.loading import BehaviorError
    from modelseal.defense.lmdiff import LMDiffConfig
    from modelseal.defense.lmdiff import diff_language_models as diff

    a, b = load_language_model(req.model_a), load_language_model(req.model_b)
    if a.vocab_size != b.vocab_size:
        raise BehaviorError(f"A and B have different vocabularies ({a.vocab_size} and {b.vocab_size} tokens)")
    rows = load_token_ids(req.prompts, a, "ids")
    shortest = min(len(r) for r in rows)
    prompts = [r[len(r) - shortest :] for r in rows]  # the ends, which the next token follows
    if req.candidates is not None:
        candidates = sorted({t for r in load_token_ids(req.candidates, a, "candidates") for t in r})
    elif a.vocab_size <= req.max_vocab:
        candidates = list(range(a.vocab_size))
    else:
        raise BehaviorError(
            f"{req.model_a}: a vocabulary of {a.vocab_size} tokens is too large to search whole "
            f"(over {req.max_vocab}); give --candidates"
        )
    report = diff(
        a.logits, b.logits, prompts, candidates, LMDiffConfig(max_phrase=req.max_phrase, beam=req.beam)
    )
    phrase, says, would = (
        a.decode(report.phrase),
        a.decode(report.b_continuation),
        a.decode(report.a_continuation),
    )
    findings: tuple[Finding, ...] = ()
    if report.deviates:
        message = (
            f"B alone moves after the phrase {phrase!r}: it then says {says!r} where A says {would!r} "
            f"(lead {report.phrase_lead:.2f}, {report.probe_lead:.2f} on the probes as given)"
        )
        evidence = f"phrase_ids={list(report.phrase)} lead={report.phrase_lead:.3f} js={report.phrase_js:.3f}"
        findings = (make_finding("MS-BEHAVIOR-DIFF", message, file=str(req.model_b), evidence=evidence),)
    payload = {
        "model_a": str(req.model_a),
        "model_b": str(req.model_b),
        "deviates": report.deviates,
        "probes": len(prompts),
        "candidates": len(candidates),
        "probe_js": report.probe_js,
        "probe_lead": report.probe_lead,
        "phrase": phrase,
        "phrase_ids": list(report.phrase),
        "phrase_lead": report.phrase_lead,
        "phrase_js": report.phrase_js,
        "b_continuation": says,
        "a_continuation": would,
        "seconds": report.seconds,
        "findings": [{"rule_id": f.rule_id, "message": f.message} for f in findings],
    }
    verdict = "B DEVIATES from A" if report.deviates else "no deviation of B from A"
    lines = [
        f"{req.model_b}: {verdict} ({len(prompts)} probes, {len(candidates)} candidate tokens; next-token JS "
        f"{report.probe_js:.3f}, lead {report.probe_lead:.2f} on the probes as given)",
        f"  strongest phrase {phrase!r}: B then says {says!r}, A says {would!r} "
        f"(lead {report.phrase_lead:.2f})",
        *(f"  {f.rule_id}: {f.message}" for f in findings),
    ]
    return RuntimeResult(findings, payload, tuple(lines), report.deviates)


# ------------------------------------------------------------------ sanitize
@dataclass(frozen=True)
class SanitizeRequest:
    file: Path
    out: Path


def sanitize_file(req: SanitizeRequest) -> RuntimeResult:
    """Clean one input file (image, text or audio by content) into ``out``; refused input raises
    :class:`modelseal.defense.errors.RefusedInput`."""
    from modelseal.defense.errors import RefusedInput
    from modelseal.defense.sanitize import sanitize

    try:
        data = req.file.read_bytes()
    except OSError as exc:
        raise RefusedInput(f"{req.file}: cannot be read ({exc.strerror})") from None
    cleaned: Sanitized = sanitize(data)
    req.out.write_bytes(cleaned.data)
    changes = [{"what": c.what, "detail": c.detail, "count": c.count} for c in cleaned.changes]
    summary = f"{len(changes)} kinds of content removed or changed" if changes else "nothing to remove"
    lines = [f"{req.file}: {cleaned.kind} -> {req.out} ({cleaned.format}), {summary}"]
    lines += [f"  {c.what}: {c.detail}" + (f" ({c.count})" if c.count > 1 else "") for c in cleaned.changes]
    payload = {
        "file": str(req.file),
        "out": str(req.out),
        "kind": cleaned.kind,
        "format": cleaned.format,
        "changes": changes,
    }
    return RuntimeResult((), payload, tuple(lines))


# ------------------------------------------------------------------ monitor
@dataclass(frozen=True)
class MonitorRequest:
    records: Path
    """JSON lines, one request each: numbers, lists of numbers (``input``, ``probs``...) flattened."""
    reference: Path
    """A reference profile (.json, as written by ``profile_out``) or reference records (JSON lines)."""
    window: int = 500
    metrics_out: Path | None = None
    """Where to write the Prometheus text exposition."""
    profile_out: Path | None = None
    labels_key: str = "correct"
    """Records with this key (true/false) feed the accuracy tracking."""


def _flatten(record: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            out[key] = float(value)
        elif isinstance(value, list) and all(isinstance(v, int | float) for v in value):
            out.update({f"{key}.{i}": float(v) for i, v in enumerate(value)})
            if key == "probs" and value:
                out["confidence"] = float(max(value))
                out["predicted"] = float(value.index(max(value)))
    return out


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    from modelseal.defense.errors import DefenseError

    try:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DefenseError(f"{path}:{n}: not JSON ({exc.msg})") from None
                if not isinstance(item, dict):
                    raise DefenseError(f"{path}:{n}: each line must be a JSON object")
                yield item
    except (OSError, UnicodeDecodeError) as exc:
        raise DefenseError(f"{path}: cannot be read ({exc})") from None


def monitor(req: MonitorRequest) -> RuntimeResult:
    """Replay logged requests through a :class:`~modelseal.defense.monitor.Monitor`."""
    from modelseal.defense.monitor import Monitor, ReferenceProfile

    if req.reference.suffix == ".json":
        profile = ReferenceProfile.load(req.reference)
    else:
        columns: dict[str, list[float]] = {}
        for item in _read_jsonl(req.reference):
            for k, v in _flatten(item).items():
                columns.setdefault(k, []).append(v)
        profile = ReferenceProfile.fit(columns)
    if req.profile_out:
        profile.save(req.profile_out)
    mon = Monitor(profile, window=req.window, metrics=req.metrics_out is not None)
    n = 0
    for item in _read_jsonl(req.records):
        n += 1
        mon.observe(_flatten(item))
        if isinstance(item.get(req.labels_key), bool):
            mon.observe_label(item[req.labels_key])
    if req.metrics_out:
        req.metrics_out.write_bytes(mon.metrics_text())
    alerts = [a.to_dict() for a in mon.alerts]
    payload = {
        "records": n,
        "window": req.window,
        "alerts": alerts,
        "last_window": {k: vars(v) for k, v in mon.last.items()},
    }
    lines = [f"{req.records}: {n} records, {len(alerts)} alerts"]
    lines += [f"  [{a['kind']}] record {a['at']}: {a['detail']}" for a in alerts]
    return RuntimeResult((), payload, tuple(lines), bool(alerts))


# ------------------------------------------------------------------ canary run
@dataclass(frozen=True)
class CanaryRequest:
    model: Path
    probes: Path
    """.npz with x, y and optionally probs, mask, pattern, target."""
    tolerance: float = 0.05
    every: float = 0.0
    count: int = 1


def _canary_text(r: Any, target: int | None) -> str:
    text = f"{len(r.wrong_labels)} of {r.probes} probes answered differently"
    if r.max_prob_change is not None:
        text += f", largest probability change {r.max_prob_change:.3f}"
    if r.trigger_rate is not None:
        text += f", the trigger candidate moves {r.trigger_rate:.0%} to class {target}"
    return text


def canary_run(req: CanaryRequest) -> RuntimeResult:
    """Run the canary probes against a model (``count`` times, ``every`` seconds apart)."""
    import torch

    from modelseal.behavior.loading import load_model
    from modelseal.defense.canary import CanarySuite, run_scheduled

    loaded = load_model(req.model)
    suite = CanarySuite.load(req.probes, req.tolerance)

    def predict(x: Any) -> Any:
        with torch.no_grad():
            return loaded.module(torch.as_tensor(x)).float().numpy()

    results = run_scheduled(predict, suite, every=req.every, count=req.count, on_result=lambda r: None)
    failed = [r for r in results if not r.passed]
    findings = tuple(
        make_finding(
            "MS-RUNTIME-CANARY",
            f"{len(r.wrong_labels)} of {r.probes} probes answered differently"
            + (
                f", largest probability change {r.max_prob_change:.3f}"
                if r.max_prob_change is not None
                else ""
            )
            + (
                f", trigger moves {r.trigger_rate:.0%} to class {suite.trigger_target}"
                if r.trigger_rate is not None
                else ""
            ),
            file=str(req.model),
        )
        for r in failed[:1]
    )
    payload = {
        "model": str(req.model),
        "runs": [vars(r) for r in results],
        "findings": [{"rule_id": f.rule_id, "message": f.message} for f in findings],
    }
    lines = [
        f"{req.model}: canary run {i + 1}: {'passed' if r.passed else 'FAILED'} "
        f"({_canary_text(r, suite.trigger_target)})"
        for i, r in enumerate(results)
    ]
    lines += [f"  {f.rule_id}: {f.message}" for f in findings]
    return RuntimeResult(findings, payload, tuple(lines), bool(failed))


__all__ = [
    "CanaryRequest",
    "DiffRequest",
    "LMDiffRequest",
    "MonitorRequest",
    "RuntimeResult",
    "SanitizeRequest",
    "canary_run",
    "diff_behavior",
    "diff_language_models",
    "monitor",
    "sanitize_file",
]
