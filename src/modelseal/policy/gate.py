"""The gate: gather every fact about one model, evaluate the policy, record the verdict.

Facts come from the scanner (``api.scan``), the lockfile and signature checks (``integrity``) and the
publisher's reputation (``provenance``). A fact that cannot be obtained becomes an ``unavailable`` state
the policy treats as a violation. Nothing is returned to the caller before the audit log has the
verdict: if the log cannot be verified or written, the gate blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from modelseal.audit.log import AuditLog, AuditLogError, default_log_path
from modelseal.audit.verify import verify_log
from modelseal.core.artifact import Artifact
from modelseal.core.errors import ModelsealError
from modelseal.core.result import ScanResult
from modelseal.policy.context import (
    EvaluationContext,
    LockFact,
    SignatureFact,
    facts_from_target,
)
from modelseal.policy.evaluate import Bypass, Decision, evaluate
from modelseal.policy.load import find_policy, load_policy
from modelseal.policy.model import Policy

TIER_NAMES = {1: "major-lab", 2: "organisation", 3: "individual", 4: "anonymous", 5: "unknown"}
"""The reputation catalogue's tiers (1 best) as the policy's tier names."""
_CACHE_REPO = re.compile(r"models--([^/\\]+?)--([^/\\]+)")


@dataclass(frozen=True)
class GateRequest:
    model: str
    environment: str
    policy: Path | None = None
    audit_log: Path | None = None
    lockfile: Path | None = None
    """None: ``modelseal.lock`` in the working folder, if there is one."""
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


@dataclass(frozen=True)
class GateOutcome:
    decision: Decision
    context: EvaluationContext
    scan: ScanResult
    audit_entry: int
    audit_log: str


class GateBlocked(ModelsealError):
    """The gate could not reach a verdict it can stand behind (audit log unusable): treat as block."""


def cache_repo_id(root: Path) -> str | None:
    """``org/name`` of a hub cache snapshot (``.../models--org--name/snapshots/<commit>``), else None."""
    m = _CACHE_REPO.search(root.resolve().as_posix())
    return f"{m.group(1)}/{m.group(2)}" if m else None


def reputation(repo: str, raw_config: dict[str, Any]) -> tuple[str | None, str]:
    """The policy tier name and publisher of a hub id; ``[tool.modelseal.provenance] publishers`` apply."""
    from modelseal.provenance.reputation import ReputationTable, publisher_tier

    table = ReputationTable.shipped()
    overrides = raw_config.get("provenance", {}).get("publishers")
    if isinstance(overrides, dict):
        table = table.with_overrides(overrides)
    found = publisher_tier(repo, table)
    return TIER_NAMES.get(found.tier), found.publisher


def _resolve(model: str) -> tuple[Artifact, str, str | None, str | None]:
    """The artifact, its lockfile key (as ``modelseal lock`` writes it), the commit and the hub id."""
    from modelseal.sources.resolve import resolve

    found = resolve(model)
    return found.artifact, found.lock_key, found.revision, found.model_id


def _signature(req: GateRequest, artifact: Artifact) -> SignatureFact:
    from modelseal.integrity.oms import SignatureError
    from modelseal.integrity.signing import verify_model

    path = req.signature
    if path is None:
        root = artifact.root
        candidate = root / "model.sig" if root.is_dir() else root.with_name(root.name + ".sig")
        if not candidate.is_file():
            return SignatureFact("unsigned", detail="no --signature given and no model.sig found")
        path = candidate
    if req.public_key is None and not req.trust_anchors:
        return SignatureFact(
            "unavailable", detail=f"{path} found but no --public-key or --trust-anchor to check it"
        )
    try:
        result = verify_model(
            artifact, path, public_key=req.public_key, trust_anchors=req.trust_anchors, identity=req.identity
        )
    except SignatureError as exc:
        return SignatureFact("invalid", detail=str(exc))
    except ModelsealError as exc:
        return SignatureFact("unavailable", detail=str(exc))
    if not result.ok:
        diffs = "; ".join(str(d) for d in result.differences[:3])
        return SignatureFact("invalid", (result.signer,), f"files differ from what was signed: {diffs}")
    return SignatureFact("verified", (result.signer,))


def _lock(req: GateRequest, artifact: Artifact, key: str, commit: str | None, signer: str | None) -> LockFact:
    from modelseal.integrity.lockfile import LOCKFILE, check_lock, read_lock

    path = req.lockfile or req.cwd / LOCKFILE
    if not path.is_file():
        return LockFact("missing", f"no lockfile at {path}")
    try:
        entry = read_lock(path).get(key)
    except ModelsealError as exc:
        return LockFact("unavailable", str(exc))
    if entry is None:
        return LockFact("missing", f"no entry for {key} in {path}")
    check = check_lock(artifact, entry, revision=commit, signer=signer)
    if not check.ok:
        return LockFact("mismatch", "; ".join(str(d) for d in check.differences[:3]))
    return LockFact("verified", f"matches {path}")


def gather(req: GateRequest) -> tuple[EvaluationContext, ScanResult]:
    """Every fact the policy needs about ``req.model``; SourceError if the model cannot be resolved."""
    from modelseal.api import scan
    from modelseal.core.config import load_config

    config = load_config(start=req.cwd)
    result = scan([req.model], config)
    target = result.targets[0]
    files, findings = facts_from_target(target)
    artifact, key, commit, model_id = _resolve(req.model)
    artifact = artifact.with_digests({f.path: f.digest for f in target.files})  # hashed once, by the scan
    signature = _signature(req, artifact)
    lock = _lock(req, artifact, key, commit, signature.signers[0] if signature.state == "verified" else None)
    repo = model_id or cache_repo_id(artifact.root)
    tier, publisher = reputation(repo, config.raw) if repo else (None, None)
    ctx = EvaluationContext(
        model=req.model,
        environment=req.environment,
        digest=target.manifest_digest,
        files=files,
        findings=findings,
        signature=signature,
        lock=lock,
        tier=tier,
        publisher=publisher,
        criticality=req.criticality,
        data_sensitivity=req.data_sensitivity,
        exposure=req.exposure,
    )
    return ctx, result


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


def run_gate(req: GateRequest, *, today: date | None = None, policy: Policy | None = None) -> GateOutcome:
    """Decide one model. ConfigError/SourceError are errors; GateBlocked means block without a verdict."""
    policy = policy or load_policy(find_policy(req.policy, req.cwd))
    policy.environment(req.environment)  # an unknown environment is an error before any work
    log = open_verified_log(req.audit_log)
    try:
        ctx, result = gather(req)
        decision = evaluate(policy, ctx, today=today or date.today(), bypass=req.bypass)
        try:
            index = record(log, decision, ctx, result.tool_version)
        except (AuditLogError, OSError) as exc:
            raise GateBlocked(f"cannot write the verdict to the audit log, blocking: {exc}") from None
    finally:
        log.close()
    return GateOutcome(decision, ctx, result, index, str(log.path))
