"""The registry's compositions: decide an uploaded scan with the gate's own policy evaluation, check
uploads against the report schema, and record every state change in the tamper-evident audit log.

``modelseal gate`` examines a model and evaluates the policy on the facts; the service already holds the
facts (the scan report CI uploaded), so it builds the same :class:`EvaluationContext` from the report and
calls the same :func:`~modelseal.policy.evaluate.evaluate`. The registry's waivers are the policy's
waivers; a review is the policy's manual-review gate: an approval turns ``review`` into ``allow``, a
rejection into ``block``, and neither touches ``block``.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelseal.api.gating import load_gate_policy
from modelseal.audit.log import AuditLogError as AuditLogError  # what a broken log raises
from modelseal.core.findings import Severity
from modelseal.policy.context import (
    UNAVAILABLE_SIGNATURE,
    EvaluationContext,
    FileFact,
    FindingFact,
    LockFact,
    SignatureFact,
)
from modelseal.policy.evaluate import Bypass as Bypass  # requests carry it
from modelseal.policy.evaluate import evaluate
from modelseal.policy.model import Policy as Policy  # the service loads one at start
from modelseal.policy.model import Verdict
from modelseal.policy.model import Waiver as Waiver  # requests carry them
from modelseal.reports.json import SCHEMA_PATH

if TYPE_CHECKING:
    from sqlalchemy import Connection

REVIEW_DECISIONS = ("approve", "reject")
_LOCK_STATES = {"match": "verified", "mismatch": "mismatch", None: "missing"}


def load_policy(path: Path | None) -> Policy:
    """The policy the service decides with: ``path``, ``MODELSEAL_POLICY``, or the shipped default."""
    return load_gate_policy(path, Path.cwd())


@dataclass(frozen=True)
class SchemaProblem:
    path: str
    """The field's JSON path, e.g. ``$.findings[3].severity``."""
    message: str


@cache
def _schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text()))


@cache
def _fast_check() -> Any:
    """The schema compiled to Python (fastjsonschema): an upload's validation in milliseconds."""
    import fastjsonschema

    return fastjsonschema.compile(_schema())


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema())


def check_report(document: Any) -> tuple[SchemaProblem, ...]:
    """Every place where ``document`` breaks the scan report schema (none: it is a valid report). The
    compiled check decides; only a failing document is walked again to name every field at fault."""
    from fastjsonschema import JsonSchemaException

    try:
        _fast_check()(document)
        return ()
    except JsonSchemaException:
        pass
    problems = sorted(_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return tuple(SchemaProblem(e.json_path, e.message[:300]) for e in problems[:20]) or (
        SchemaProblem("$", "not a scan report (schema scan-report-v1)"),
    )


@dataclass(frozen=True)
class ReportTarget:
    """One target of an uploaded report: its digest and the files and findings that are its."""

    index: int
    name: str
    digest: str | None
    lock: str | None
    publisher_tier: int | None
    signature: Mapping[str, Any] | None
    """``{"state": ..., "signer": ...}`` when the uploader's scan checked a signature."""
    files: tuple[Mapping[str, Any], ...]
    findings: tuple[Mapping[str, Any], ...]

    def document(self, report: Mapping[str, Any]) -> dict[str, Any]:
        """A one-target report in the same schema (what the service stores per model version)."""
        target = dict(report["targets"][self.index])
        return dict(report) | {
            "targets": [target],
            "files": [dict(f) | {"target": 0} for f in self.files],
            "findings": [dict(f) | {"target": 0} for f in self.findings],
        }


def report_targets(report: Mapping[str, Any]) -> tuple[ReportTarget, ...]:
    """The targets of a schema-valid report."""
    return tuple(
        ReportTarget(
            i,
            t["target"],
            t["manifest_digest"],
            t.get("lock"),
            t.get("publisher_tier"),
            t.get("signature"),
            tuple(f for f in report["files"] if f["target"] == i),
            tuple(f for f in report["findings"] if f["target"] == i),
        )
        for i, t in enumerate(report["targets"])
    )


@dataclass(frozen=True)
class RegistryGateRequest:
    report: Mapping[str, Any]
    """A one-target scan report (:meth:`ReportTarget.document`)."""
    environment: str
    policy: Policy
    waivers: Sequence[Waiver] = ()
    """The registry's waivers, added to the policy's own."""
    review: str | None = None
    """The latest review of this model in this environment: ``approve``, ``reject`` or none."""
    bypass: Bypass | None = None
    criticality: str = ""
    data_sensitivity: str = ""
    exposure: str = ""
    today: date | None = None


@dataclass(frozen=True)
class RegistryDecision:
    verdict: str
    reasons: tuple[dict[str, Any], ...]
    document: dict[str, Any] = field(compare=False)
    """The decision as ``modelseal gate --format json`` prints it."""


def context_from_report(req: RegistryGateRequest) -> EvaluationContext:
    """The policy's facts from a stored one-target report. The signature is the one the uploader's scan
    checked (``scan --public-key``); a report without one says ``unavailable``: a policy that requires a
    signature asks for a review or blocks, as the gate would."""
    target = report_targets(req.report)[0]
    digests = {f["path"]: f["digest"] for f in target.files}
    return EvaluationContext(
        model=target.name,
        environment=req.environment,
        digest=target.digest,
        files=tuple(FileFact(f["path"], f["format"], f["digest"]) for f in target.files),
        findings=tuple(
            FindingFact(
                f["rule_id"], Severity.parse(f["severity"]), f["file"], digests.get(f["file"]), f["message"]
            )
            for f in target.findings
        ),
        signature=signature_fact(target.signature),
        lock=LockFact(_LOCK_STATES.get(target.lock, "unavailable")),
        tier=None,
        criticality=req.criticality,
        data_sensitivity=req.data_sensitivity,
        exposure=req.exposure,
    )


def signature_fact(signature: Mapping[str, Any] | None) -> SignatureFact:
    if not signature:
        return UNAVAILABLE_SIGNATURE
    signer = signature.get("signer")
    return SignatureFact(str(signature["state"]), (str(signer),) if signer else ())


def decide(req: RegistryGateRequest) -> RegistryDecision:
    """The verdict for a stored scan in one environment, by the gate's evaluation, then the review."""
    policy = replace(req.policy, waivers=(*req.policy.waivers, *req.waivers))
    decision = evaluate(policy, context_from_report(req), today=req.today or date.today(), bypass=req.bypass)
    doc = decision.to_document()
    reasons = list(doc["reasons"])
    verdict = decision.verdict
    if verdict is Verdict.REVIEW and req.review in REVIEW_DECISIONS:
        verdict = Verdict.ALLOW if req.review == "approve" else Verdict.BLOCK
        reasons.append(
            {
                "rule": "review",
                "check": "review",
                "mode": "enforce",
                "outcome": verdict.label,
                "message": f"manual review: {req.review}d",
            }
        )
    doc |= {"verdict": verdict.label, "reasons": reasons}
    return RegistryDecision(verdict.label, tuple(reasons), doc)


def record_events(
    connection: Connection, audit_log: Path, events: Sequence[tuple[str, dict[str, Any]]]
) -> str | None:
    """Append state changes to the audit log in the registry's database, in ``connection``'s transaction
    (checked first: a damaged log refuses new entries). ``audit_log`` names the signing key's and the
    witness's files (``<audit_log>.key``, ``.db-checkpoint``). Returns the checkpoint for
    :func:`write_witness` once the transaction has committed."""
    from modelseal.audit.dblog import append_db

    return append_db(connection, audit_log, events)[1]


def write_witness(audit_log: Path, note: str | None) -> None:
    if note is not None:
        from modelseal.audit.dblog import db_witness_path
        from modelseal.audit.log import write_witness as write

        write(db_witness_path(audit_log), note)


def create_token(project: str, role: str, database_url: str | None = None) -> str:
    """A new API token for ``project`` (created if new), straight in the database: no server needed. The
    token is returned once; only its hash is stored."""
    from modelseal.store import repo
    from modelseal.store.db import make_engine, migrate, sessions

    engine = make_engine(database_url)
    try:
        migrate(engine)
        with sessions(engine)() as session:
            found = repo.project_named(session, project, create=True)
            assert found is not None
            token = repo.create_token(session, found, role)
            session.commit()
        return token
    finally:
        engine.dispose()


def migrate_database(database_url: str | None = None) -> str:
    """Bring the registry's database to the current schema (``serve --migrate-only``); returns its URL."""
    from modelseal.store.db import database_url as resolve
    from modelseal.store.db import make_engine, migrate

    engine = make_engine(database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return resolve(database_url)


def bootstrap_admin(
    database_url: str | None = None, audit_log: Path | None = None, *, reset: bool = False
) -> str | None:
    """Before the service starts (once, whatever its worker count): on first start, or with ``reset``
    (``serve --init-admin``), the ``admin`` user with a new one-time password, which is returned."""
    from modelseal.store import repo
    from modelseal.store.db import audit_log_path, make_engine, sessions

    engine = make_engine(database_url)
    try:
        with sessions(engine)() as session:
            password = repo.ensure_admin(session, reset=reset)
            if password is not None:
                path = audit_log_path(audit_log)
                event = {
                    "username": "admin",
                    "role": "admin",
                    "by": "--init-admin" if reset else "first start",
                }
                note = record_events(session.connection(), path, [("user", event)])
                session.commit()
                write_witness(path, note)
        return password
    finally:
        engine.dispose()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PICTURE_SIDE = 8192
PICTURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}\.png")


def png_problem(data: bytes) -> str | None:
    """Why ``data`` is not one well-formed PNG (signature, IHDR first with sane dimensions, every chunk's
    CRC, IEND last with nothing after it), or None. The bytes are only walked, never decoded here; the
    browser decodes what passed, served as ``image/png`` with ``nosniff``."""
    if not data.startswith(PNG_SIGNATURE):
        return "not a PNG (signature)"
    at, first = len(PNG_SIGNATURE), True
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        end = at + 12 + length
        if not kind.isalpha() or end > len(data):
            return f"chunk at byte {at} is malformed or cut short"
        body = data[at + 8 : end - 4]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[end - 4 : end])[0]:
            return f"chunk {kind.decode()} at byte {at} fails its CRC"
        if first:
            if kind != b"IHDR" or length != 13:
                return "the first chunk is not IHDR"
            width, height = struct.unpack(">II", body[:8])
            if not (0 < width <= MAX_PICTURE_SIDE and 0 < height <= MAX_PICTURE_SIDE):
                return f"{width}x{height} pixels is outside 1..{MAX_PICTURE_SIDE} a side"
            first = False
        at = end
        if kind == b"IEND":
            return None if at == len(data) else "bytes after IEND"
    return "no IEND chunk: the PNG is cut short"


DIGEST_PROPERTY = "modelseal:manifest-digest"


def bom_digest(bom: Any) -> str | None:
    """The model's manifest digest a CycloneDX BOM from ``modelseal bom`` states (property
    ``modelseal:manifest-digest`` of the model component), or None."""
    if not isinstance(bom, dict):
        return None
    metadata = bom.get("metadata")
    pending = [metadata.get("component")] if isinstance(metadata, dict) else []
    pending += bom.get("components") or []
    while pending:
        component = pending.pop()
        if not isinstance(component, dict):
            continue
        for prop in component.get("properties") or []:
            if isinstance(prop, dict) and prop.get("name") == DIGEST_PROPERTY and prop.get("value"):
                return str(prop["value"])
        pending += component.get("components") or []
    return None
