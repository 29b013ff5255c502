"""``gate``: gather every fact about one model, evaluate the policy, record the verdict.

The facts come from one :func:`~modelseal.api.examination.examine` of the model: the scan's findings and
digests, and on those digests the signature, the lock entry, the Hugging Face cache record and the
publisher tier (:mod:`modelseal.api.checks`) — the same checks ``scan`` and ``verify`` run. A fact that
cannot be obtained becomes an ``unavailable`` state the policy treats as a violation. Nothing is returned
before the audit log has the verdict: if the log cannot be verified or written, the gate blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from modelseal.api.checks import LOCKFILE, SignatureCheck, TargetChecks
from modelseal.api.examination import Examined, ScanRequest, examine
from modelseal.audit.log import AuditLog, AuditLogError, default_log_path
from modelseal.audit.verify import verify_log
from modelseal.core.config import load_config
from modelseal.core.errors import PolicyError
from modelseal.core.result import ScanResult, TargetReport
from modelseal.policy.context import EvaluationContext, LockFact, SignatureFact, facts_from_target
from modelseal.policy.evaluate import Bypass as Bypass  # requests carry it
from modelseal.policy.evaluate import Decision, evaluate
from modelseal.policy.load import find_policy, load_policy
from modelseal.policy.model import Policy


@dataclass(frozen=True)
class GateRequest:
    """One model, one environment, and what to check it with."""

    model: str
    """A path, ``hf://org/name@rev`` or ``s3://bucket/prefix``."""
    environment: str
    """An environment the policy names (dev, staging, prod...)."""
    policy: Path | None = None
    """None: ``MODELSEAL_POLICY``, a policy file found from ``cwd`` upwards, or the shipped default."""
    audit_log: Path | None = None
    """None: ``MODELSEAL_AUDIT_LOG`` or the user data folder."""
    lockfile: Path | None = None
    """None: ``modelseal.lock`` in ``cwd``, if there is one."""
    signature: Path | None = None
    """None: ``model.sig`` inside a model folder, or ``<file>.sig`` beside a model file, if present."""
    public_key: Path | None = None
    trust_anchors: tuple[Path, ...] = ()
    identity: str | None = None
    criticality: str = ""
    data_sensitivity: str = ""
    exposure: str = ""
    bypass: Bypass | None = None
    cwd: Path = field(default_factory=Path.cwd)
    loaded_policy: Policy | None = field(default=None, compare=False)
    """The policy already loaded (several models gated against one policy read once)."""
    today: date | None = None
    """The day waivers are judged on; None: today."""


@dataclass(frozen=True)
class GateResult:
    """The verdict, the facts it was decided on, the scan behind them and where the log recorded it."""

    decision: Decision
    context: EvaluationContext
    scan: ScanResult
    audit_entry: int
    audit_log: str


class GateBlocked(PolicyError):
    """The gate could not reach a verdict it can stand behind (audit log unusable): treat as block."""


def load_gate_policy(path: Path | None, cwd: Path) -> Policy:
    """The policy a gate run uses: ``path``, ``MODELSEAL_POLICY``, one found from ``cwd``, or the default."""
    return load_policy(find_policy(path, cwd))


def gate(req: GateRequest) -> GateResult:
    """Decide one model. ConfigError/SourceError are errors; GateBlocked means block without a verdict."""
    policy = req.loaded_policy or load_gate_policy(req.policy, req.cwd)
    policy.environment(req.environment)  # an unknown environment is an error before any work
    log = open_verified_log(req.audit_log)
    try:
        ctx, result = gather(req)
        decision = evaluate(policy, ctx, today=req.today or date.today(), bypass=req.bypass)
        try:
            index = record(log, decision, ctx, result.tool_version)
        except (AuditLogError, OSError) as exc:
            raise GateBlocked(f"cannot write the verdict to the audit log, blocking: {exc}") from None
    finally:
        log.close()
    return GateResult(decision, ctx, result, index, str(log.path))


def gather(req: GateRequest) -> tuple[EvaluationContext, ScanResult]:
    """Every fact the policy needs about ``req.model``, from one examination of it."""
    signature = SignatureCheck(
        req.signature, req.public_key, req.trust_anchors, req.identity, unchecked_is_unavailable=True
    )
    examination = examine(
        ScanRequest(
            (req.model,),
            load_config(start=req.cwd),
            digests=True,
            lockfile=req.lockfile or req.cwd / LOCKFILE,
            strict_lockfile=False,
            signature=signature,
        )
    )
    return _context(req, examination.result.targets[0], examination.targets[0]), examination.result


def _context(req: GateRequest, target: TargetReport, examined: Examined) -> EvaluationContext:
    """The policy's facts: the scan's files and findings (a cache-record mismatch among them) and the
    outcomes of the shared checks."""
    files, findings = facts_from_target(target)
    checks = examined.checks or TargetChecks()
    sig = checks.signature
    signature = (
        SignatureFact(sig.state, (sig.result.signer,) if sig.result else (), sig.detail)
        if sig is not None
        else SignatureFact("unavailable", detail="signature verification was not run")
    )
    tier = checks.tier
    return EvaluationContext(
        model=req.model,
        environment=req.environment,
        digest=examined.manifest.digest if examined.manifest else None,
        files=files,
        findings=findings,
        signature=signature,
        lock=LockFact(checks.lock.state, checks.lock.detail),
        tier=tier.name if tier else None,
        publisher=tier.publisher if tier else None,
        criticality=req.criticality,
        data_sensitivity=req.data_sensitivity,
        exposure=req.exposure,
    )


def open_verified_log(path: Path | None) -> AuditLog:
    """The audit log, after checking it end to end; any damage blocks (fail closed)."""
    path = path or default_log_path()
    try:
        log = AuditLog.open(path)
    except AuditLogError as exc:
        raise GateBlocked(f"audit log unusable, blocking: {exc}") from None
    try:
        verification = verify_log(path)
    except AuditLogError as exc:
        log.close()
        raise GateBlocked(f"audit log unusable, blocking: {exc}") from None
    if not verification.ok:
        log.close()
        problems = "; ".join(p.message for p in verification.problems[:3])
        raise GateBlocked(f"audit log {path} has been tampered with, blocking: {problems}")
    return log


_SUMMARY = (
    "formats",
    "signature",
    "lock",
    "tier",
    "publisher",
    "criticality",
    "data_sensitivity",
    "exposure",
)


def record(log: AuditLog, decision: Decision, ctx: EvaluationContext, tool_version: str) -> int:
    """Waivers used, the bypass, then the verdict: each its own entry. Returns the verdict's index."""
    doc = decision.to_document()
    model = {"model": ctx.model, "digest": ctx.digest, "environment": ctx.environment}
    for item in doc["reasons"]:
        if "waiver" in item:
            log.append("waiver", model | {"rule": item["rule"], "waiver": item["waiver"]})
    for item in doc["waived_findings"]:
        log.append(
            "waiver", model | {"finding": item["rule"], "file": item["file"], "waiver": item["waiver"]}
        )
    if decision.bypass is not None:
        bypass = {"reason": decision.bypass.reason, "identity": decision.bypass.identity}
        log.append("bypass", model | bypass | {"evaluated": decision.evaluated.label})
    facts = ctx.to_document()
    summary = {k: facts[k] for k in _SUMMARY} | {"findings": len(ctx.findings)}
    entry, _ = log.append("verdict", doc | {"facts": summary, "tool_version": tool_version})
    return entry.index
