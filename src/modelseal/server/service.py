"""What the routes do to the registry: uploads, verdicts, analyses, reviews, waivers and bypasses.

Each state change is written to the database and to the audit log in one step: the rows are flushed, the
audit entries appended, and only then is the transaction committed, so a failed append rolls the change
back. Verdicts come from :func:`modelseal.api.registry.decide`, the gate's own policy evaluation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelseal.api import registry
from modelseal.server.settings import ServerSettings
from modelseal.server.webhooks import Webhook
from modelseal.store import repo
from modelseal.store.db import make_engine, migrate, sessions
from modelseal.store.models import (
    Analysis,
    BypassRow,
    FindingRow,
    ModelVersion,
    Picture,
    Project,
    Review,
    Scan,
    VerdictRow,
    WaiverRow,
)

MAX_PICTURES = 32
"""Pictures kept per model version (inspect writes two per suspected class)."""


class RegistryError(Exception):
    """A request the registry refuses; ``status`` is the HTTP status, ``field`` the JSON path at fault."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


@dataclass(frozen=True)
class Gate:
    verdict: str
    reasons: tuple[dict[str, Any], ...]
    model: str
    digest: str
    environment: str


class Registry:
    """The service's state: database (with the audit log's entries), policy, the audit log's key and
    witness files, and webhook. One per app."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.database_url)
        migrate(self.engine)
        self.sessions: sessionmaker[Session] = sessions(self.engine)
        self.policy = registry.load_policy(settings.policy)
        self.audit_log = settings.audit_path()
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)
        self.webhook = Webhook(settings.webhook_url, settings.webhook_secret)
        registry.check_report({})  # build the schema validator now, not in the first upload

    def session(self) -> Session:
        return self.sessions()

    # -- audit ---------------------------------------------------------------------------------------

    def commit(self, session: Session, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Flush the rows, count the change (the gate's cache sees it), append the audit entries in the
        same transaction, then commit: the change and its entries land together or not at all."""
        session.flush()
        repo.bump_generation(session)
        note = None
        if events:
            try:
                note = registry.record_events(session.connection(), self.audit_log, events)
            except Exception as exc:
                session.rollback()
                raise RegistryError(503, f"audit log refused the change: {exc}") from None
        session.commit()
        registry.write_witness(self.audit_log, note)

    # -- uploads -------------------------------------------------------------------------------------

    def upload_report(
        self, session: Session, project: Project, document: Any, actor: str
    ) -> list[ModelVersion]:
        """Store a scan report: one model version per target (by manifest digest), one scan, its findings."""
        problems = registry.check_report(document)
        if problems:
            raise RegistryError(422, problems[0].message, problems[0].path)
        targets = registry.report_targets(document)
        for t in targets:
            if not t.digest:
                raise RegistryError(
                    422,
                    "the target has no manifest digest: scan with --digests",
                    f"$.targets[{t.index}].manifest_digest",
                )
        models: list[ModelVersion] = []
        events: list[tuple[str, dict[str, Any]]] = []
        new_findings: list[dict[str, Any]] = []
        for t in targets:
            assert t.digest is not None
            model = repo.model_version(session, project, t.digest)
            previous = repo.latest_scan(session, model) if model else None
            if model is None:
                model = ModelVersion(project_id=project.id, name=t.name, digest=t.digest, source=t.name)
                session.add(model)
            model.publisher_tier = t.publisher_tier
            model.lock_status = {"match": "verified", "mismatch": "mismatch"}.get(t.lock or "", "missing")
            model.signature_status = str(t.signature["state"]) if t.signature else "unavailable"
            model.files = [
                {"path": f["path"], "size": f["size"], "format": f["format"], "digest": f["digest"]}
                for f in t.files
            ]
            session.flush()
            scan = Scan(
                model_version_id=model.id,
                tool_version=document["tool"]["version"],
                report=t.document(document),
                finding_count=len(t.findings),
                uploaded_by=actor,
            )
            session.add(scan)
            session.flush()
            session.add_all(
                FindingRow(
                    scan_id=scan.id,
                    rule_id=f["rule_id"],
                    severity=f["severity"],
                    file=f["file"],
                    location=f["location"],
                    message=f["message"],
                    evidence=f["evidence"],
                )
                for f in t.findings
            )
            before = {(f["rule_id"], f["file"]) for f in previous.report["findings"]} if previous else set()
            fresh = [f for f in t.findings if (f["rule_id"], f["file"]) not in before]
            if fresh:
                new_findings.append(
                    {"project": project.name, "model": t.name, "digest": t.digest, "new_findings": len(fresh)}
                )
            events.append(
                (
                    "upload",
                    {
                        "project": project.name,
                        "model": t.name,
                        "digest": t.digest,
                        "scan": scan.id,
                        "findings": len(t.findings),
                        "actor": actor,
                    },
                )
            )
            models.append(model)
        repo.mark_stale(session, [m.id for m in models])
        changes = [self._decide(session, m, project.environment) for m in models]
        events += [("verdict", c) for c in changes if c]
        self.commit(session, events)
        for payload in new_findings:
            self.webhook.send("new-findings", payload)
        self._announce(changes)
        return models

    def attach_bom(self, session: Session, project: Project, document: Any, actor: str) -> ModelVersion:
        """A CycloneDX BOM, attached to the model version whose manifest digest it states."""
        if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
            raise RegistryError(422, "not a CycloneDX BOM", "$.bomFormat")
        digest = registry.bom_digest(document)
        model = repo.model_version(session, project, digest) if digest else None
        if model is None:
            raise RegistryError(
                422,
                "the BOM states no manifest digest of this project's models (upload the scan first)",
                "$.metadata.component.properties",
            )
        model.bom = document
        self.commit(session, [("bom", {"project": project.name, "digest": model.digest, "actor": actor})])
        return model

    def attach_picture(
        self, session: Session, project: Project, digest: str, name: str, png: bytes, actor: str
    ) -> Picture:
        """A picture from ``modelseal inspect`` for the model version with ``digest`` (a name again:
        replaced)."""
        if not registry.PICTURE_NAME.fullmatch(name):
            raise RegistryError(
                422, "a picture's name is letters, digits, '.', '_' or '-', ending .png", "name"
            )
        problem = registry.png_problem(png)
        if problem:
            raise RegistryError(422, problem, "$")
        model = repo.model_version(session, project, digest)
        if model is None:
            raise RegistryError(
                404, "no model version with this digest in the project (upload the scan first)"
            )
        picture = session.scalar(
            select(Picture).where(Picture.model_version_id == model.id, Picture.name == name)
        )
        if picture is None:
            if len(repo.pictures_of(session, model)) >= MAX_PICTURES:
                raise RegistryError(422, f"a model version keeps at most {MAX_PICTURES} pictures", "name")
            picture = Picture(model_version_id=model.id, name=name)
            session.add(picture)
        picture.png, picture.uploaded_by = png, actor
        self.commit(
            session,
            [
                (
                    "picture",
                    {
                        "project": project.name,
                        "digest": digest,
                        "name": name,
                        "sha256": hashlib.sha256(png).hexdigest(),
                        "actor": actor,
                    },
                )
            ],
        )
        return picture

    # -- verdicts ------------------------------------------------------------------------------------

    def gate(
        self, session: Session, model: ModelVersion, environment: str, row: VerdictRow | None = None
    ) -> Gate:
        """The verdict for ``model`` in ``environment``: cached until anything it depends on changes.
        ``row``: the cached verdict when the caller fetched it along with the model."""
        row = row or repo.verdict_row(session, model, environment)
        if row is None or row.stale or row.decided_on != date.today():
            try:
                change = self._decide(session, model, environment)
                self.commit(session, [("verdict", change)] if change else [])
                self._announce([change])
            except IntegrityError:  # a concurrent request decided it first: use that verdict
                session.rollback()
            row = repo.verdict_row(session, model, environment)
            assert row is not None
        return Gate(row.verdict, tuple(row.reasons), model.name, model.digest, environment)

    def _decide(self, session: Session, model: ModelVersion, environment: str) -> dict[str, Any] | None:
        """Decide and store; the audit entry's data when the verdict changed, else None."""
        scan = repo.latest_scan(session, model)
        if scan is None:
            raise RegistryError(404, "no scan of this model has been uploaded")
        today = date.today()
        project = model.project
        review = repo.latest_review(session, model, environment)
        bypass = repo.active_bypass(session, model, environment, today)
        waivers = [
            registry.Waiver(
                w.rule,
                w.digest,
                w.justification,
                w.approver,
                w.expires,
                (w.environment,) if w.environment else (),
            )
            for w in repo.waivers_for(session, project.id)
        ]
        try:
            decision = registry.decide(
                registry.RegistryGateRequest(
                    scan.report,
                    environment,
                    self.policy,
                    waivers,
                    review.decision if review else None,
                    registry.Bypass(bypass.reason, bypass.identity) if bypass else None,
                    project.criticality,
                    project.data_sensitivity,
                    project.exposure,
                    today,
                )
            )
        except Exception as exc:  # an environment the policy does not define
            raise RegistryError(422, str(exc), "env") from None
        row = repo.verdict_row(session, model, environment)
        before = row.verdict if row else None
        if row is None:
            row = VerdictRow(model_version_id=model.id, environment=environment)
            session.add(row)
        row.verdict, row.reasons, row.decided_on, row.stale = (
            decision.verdict,
            list(decision.reasons),
            today,
            False,
        )
        if before == decision.verdict:
            return None
        return {
            "project": project.name,
            "model": model.name,
            "digest": model.digest,
            "environment": environment,
            "verdict": decision.verdict,
            "previous": before,
            "reasons": list(decision.reasons),
        }

    def _announce(self, changes: Sequence[dict[str, Any] | None]) -> None:
        for change in changes:
            if change and change["previous"] is not None:
                self.webhook.send("verdict-changed", change)

    def redecide_all(self) -> int:
        """Decide every cached verdict again (waivers expire); returns how many changed."""
        with self.session() as session:
            rows = list(session.scalars(select(VerdictRow)))
            changes = [
                self._decide(session, session.get(ModelVersion, r.model_version_id), r.environment)  # type: ignore[arg-type]
                for r in rows
            ]
            self.commit(session, [("verdict", c) for c in changes if c])
        self._announce(changes)
        return sum(1 for c in changes if c)

    def reverify(self) -> dict[str, int]:
        """The daily job: ``reverify`` over the deployed models' folders (webhook on new findings), then every
        verdict decided again. Returns what changed."""
        changed_models = 0
        if self.settings.reverify_paths:
            from modelseal.api import ReverifyRequest, reverify

            result = reverify(
                ReverifyRequest(
                    self.settings.reverify_paths, state=self.audit_log.with_suffix(".reverify.json")
                )
            )
            for change in result.reverification.changes:
                if change.new_findings or change.drifted:
                    changed_models += 1
                    self.webhook.send(
                        "new-findings",
                        {
                            "model": change.model,
                            "location": change.location,
                            "new_findings": list(change.new_findings),
                            "drifted": list(change.drifted),
                        },
                    )
        return {"models_changed": changed_models, "verdicts_changed": self.redecide_all()}

    # -- decisions by people -------------------------------------------------------------------------

    def analyse(
        self,
        session: Session,
        model: ModelVersion,
        rule_id: str,
        file: str,
        state: str,
        justification: str,
        author: str,
    ) -> None:
        if state not in repo.ANALYSIS_STATES:
            raise RegistryError(422, f"state is one of {', '.join(repo.ANALYSIS_STATES)}", "state")
        _need(justification, "justification")
        session.add(
            Analysis(
                digest=model.digest,
                rule_id=rule_id,
                file=file,
                state=state,
                justification=justification,
                author=author,
            )
        )
        repo.mark_stale(session, [model.id])
        self.commit(
            session,
            [
                (
                    "analysis",
                    {
                        "digest": model.digest,
                        "rule": rule_id,
                        "file": file,
                        "state": state,
                        "justification": justification,
                        "author": author,
                    },
                )
            ],
        )

    def review(
        self,
        session: Session,
        model: ModelVersion,
        environment: str,
        decision: str,
        justification: str,
        reviewer: str,
    ) -> None:
        if decision not in registry.REVIEW_DECISIONS:
            raise RegistryError(422, "decision is approve or reject", "decision")
        _need(justification, "justification")
        session.add(
            Review(
                model_version_id=model.id,
                environment=environment,
                decision=decision,
                justification=justification,
                reviewer=reviewer,
            )
        )
        repo.mark_stale(session, [model.id])
        self.commit(
            session,
            [
                (
                    "review",
                    {
                        "digest": model.digest,
                        "environment": environment,
                        "decision": decision,
                        "justification": justification,
                        "reviewer": reviewer,
                    },
                )
            ],
        )

    def waive(
        self,
        session: Session,
        model: ModelVersion,
        rule: str,
        expires: date,
        justification: str,
        approver: str,
        environment: str = "",
    ) -> None:
        _need(justification, "justification")
        _need(rule, "rule")
        if expires < date.today():
            raise RegistryError(422, "the expiry is in the past", "expires")
        session.add(
            WaiverRow(
                project_id=model.project_id,
                rule=rule,
                digest=model.digest,
                justification=justification,
                approver=approver,
                expires=expires,
                environment=environment,
            )
        )
        repo.mark_stale(session, [model.id])
        self.commit(
            session,
            [
                (
                    "waiver",
                    {
                        "digest": model.digest,
                        "rule": rule,
                        "expires": expires.isoformat(),
                        "justification": justification,
                        "approver": approver,
                        "environment": environment,
                    },
                )
            ],
        )

    def bypass(
        self,
        session: Session,
        model: ModelVersion,
        environment: str,
        reason: str,
        identity: str,
        expires: date,
    ) -> None:
        _need(reason, "reason")
        session.add(
            BypassRow(
                model_version_id=model.id,
                environment=environment,
                reason=reason,
                identity=identity,
                expires=expires,
            )
        )
        repo.mark_stale(session, [model.id])
        self.commit(
            session,
            [
                (
                    "bypass",
                    {
                        "digest": model.digest,
                        "environment": environment,
                        "reason": reason,
                        "identity": identity,
                        "expires": expires.isoformat(),
                    },
                )
            ],
        )


def _need(value: str, name: str) -> None:
    if not value.strip():
        raise RegistryError(422, f"{name} is required", name)
