"""Repositories: the queries the service runs, so that routes hold no SQL."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelseal.store.models import (
    Analysis,
    ApiToken,
    BypassRow,
    FindingRow,
    ModelVersion,
    Picture,
    Project,
    RegistryState,
    Review,
    Scan,
    Setting,
    User,
    VerdictRow,
    WaiverRow,
)

ROLES = ("viewer", "uploader", "reviewer", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "uploader": frozenset({"read", "upload"}),
    "reviewer": frozenset({"read", "review"}),
    "admin": frozenset({"read", "upload", "review", "admin"}),
}
"""What each role may do. A bypass is not in any role: it is a per-user permission (``User.can_bypass``)."""
ANALYSIS_STATES = ("in_triage", "exploitable", "false_positive", "not_affected")
TOKEN_PREFIX = "mst_"
_GENERATION = select(RegistryState.generation).where(RegistryState.id == 1)


def setting(session: Session, key: str, create: str) -> str:
    """A service-wide value, created with ``create`` on first use."""
    row = session.get(Setting, key)
    if row is None:
        try:
            with session.begin_nested():  # another worker may be creating it at the same moment
                row = Setting(key=key, value=create)
                session.add(row)
        except IntegrityError:
            row = session.get(Setting, key, populate_existing=True)
            assert row is not None
    return row.value


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def project_named(session: Session, name: str, *, create: bool = False) -> Project | None:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None and create:
        project = Project(name=name)
        session.add(project)
        session.flush()
    return project


def create_token(session: Session, project: Project, role: str) -> str:
    """A new token for ``project``; the caller shows it once, only its hash is kept."""
    if role not in ROLES:
        raise ValueError(f"role is one of {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(project_id=project.id, role=role, token_hash=hash_token(token), prefix=token[:10]))
    session.flush()
    return token


def token_for(session: Session, token: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))


def model_version(session: Session, project: Project, digest: str) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion).where(ModelVersion.project_id == project.id, ModelVersion.digest == digest)
    )


def model_for_gate(
    session: Session, digest: str, project_id: int | None, environment: str | None
) -> tuple[ModelVersion, VerdictRow | None] | None:
    """The model version with ``digest`` (in ``project_id`` when given), its project, and its cached verdict
    in ``environment`` (default: the project's), in one query: the gate's hot path."""
    env = literal(environment) if environment is not None else Project.environment
    query = (
        select(ModelVersion, Project, VerdictRow)
        .join(Project, ModelVersion.project_id == Project.id)
        .outerjoin(
            VerdictRow, and_(VerdictRow.model_version_id == ModelVersion.id, VerdictRow.environment == env)
        )
        .where(ModelVersion.digest == digest)
        .order_by(ModelVersion.id)
        .limit(1)
    )
    if project_id is not None:
        query = query.where(ModelVersion.project_id == project_id)
    found = session.execute(query).first()
    return (found[0], found[2]) if found else None


def latest_scan(session: Session, model: ModelVersion) -> Scan | None:
    return session.scalar(
        select(Scan).where(Scan.model_version_id == model.id).order_by(Scan.id.desc()).limit(1)
    )


def findings_of(session: Session, scan: Scan) -> Sequence[FindingRow]:
    return session.scalars(
        select(FindingRow).where(FindingRow.scan_id == scan.id).order_by(FindingRow.id)
    ).all()


def analyses_for(session: Session, digest: str) -> dict[tuple[str, str], list[Analysis]]:
    """Every analysis of the model's findings, newest first, keyed by (rule id, file)."""
    found: dict[tuple[str, str], list[Analysis]] = {}
    rows = session.scalars(select(Analysis).where(Analysis.digest == digest).order_by(Analysis.id.desc()))
    for row in rows:
        found.setdefault((row.rule_id, row.file), []).append(row)
    return found


def waivers_for(session: Session, project_id: int) -> Sequence[WaiverRow]:
    return session.scalars(
        select(WaiverRow).where(WaiverRow.project_id == project_id).order_by(WaiverRow.id)
    ).all()


def latest_review(session: Session, model: ModelVersion, environment: str) -> Review | None:
    return session.scalar(
        select(Review)
        .where(Review.model_version_id == model.id, Review.environment == environment)
        .order_by(Review.id.desc())
        .limit(1)
    )


def active_bypass(session: Session, model: ModelVersion, environment: str, today: date) -> BypassRow | None:
    return session.scalar(
        select(BypassRow)
        .where(
            BypassRow.model_version_id == model.id,
            BypassRow.environment == environment,
            BypassRow.expires >= today,
        )
        .order_by(BypassRow.id.desc())
        .limit(1)
    )


def verdict_row(session: Session, model: ModelVersion, environment: str) -> VerdictRow | None:
    return session.scalar(
        select(VerdictRow).where(
            VerdictRow.model_version_id == model.id, VerdictRow.environment == environment
        )
    )


def pictures_of(session: Session, model: ModelVersion) -> Sequence[Any]:
    """(id, name) of the model version's pictures, by name (not their bytes)."""
    return session.execute(
        select(Picture.id, Picture.name).where(Picture.model_version_id == model.id).order_by(Picture.name)
    ).all()


def generation(connection: Connection) -> int:
    """How many changes the registry has committed: the gate's cached answers hold while it stands."""
    return int(connection.execute(_GENERATION).scalar_one())


def bump_generation(session: Session) -> None:
    session.execute(
        update(RegistryState).where(RegistryState.id == 1).values(generation=RegistryState.generation + 1)
    )


def mark_stale(session: Session, model_ids: Sequence[int] | None = None) -> None:
    """Verdicts to decide again (after an upload, an analysis, a review, a waiver or a bypass)."""
    rows = select(VerdictRow)
    if model_ids is not None:
        rows = rows.where(VerdictRow.model_version_id.in_(model_ids))
    for row in session.scalars(rows):
        row.stale = True


@dataclass(frozen=True)
class PortfolioRow:
    project: Project
    model: ModelVersion
    open_findings: int
    worst: str
    verdict: str | None
    scanned: Any


_SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def portfolio(session: Session) -> list[PortfolioRow]:
    """Every model version with its latest scan's open findings (those not judged harmless) and verdict."""
    rows: list[PortfolioRow] = []
    for model in session.scalars(select(ModelVersion).order_by(ModelVersion.id)):
        scan = latest_scan(session, model)
        if scan is None:
            continue
        judged = analyses_for(session, model.digest)
        open_ = [
            f
            for f in findings_of(session, scan)
            if not judged.get((f.rule_id, f.file))
            or judged[(f.rule_id, f.file)][0].state not in ("false_positive", "not_affected")
        ]
        worst = max((f.severity for f in open_), key=lambda s: _SEVERITY_RANK.get(s, 0), default="none")
        verdict = verdict_row(session, model, model.project.environment)
        rows.append(
            PortfolioRow(
                model.project, model, len(open_), worst, verdict.verdict if verdict else None, scan.created_at
            )
        )
    return rows


def open_findings_over_time(session: Session, limit: int = 60) -> list[tuple[str, int]]:
    """(day, findings in the latest scan of each model as of that day), for the portfolio's chart."""
    days = session.execute(
        select(func.date(Scan.created_at), Scan.model_version_id, func.max(Scan.id))
        .group_by(func.date(Scan.created_at), Scan.model_version_id)
        .order_by(func.date(Scan.created_at))
    ).all()
    counts = {scan_id: n for scan_id, n in session.execute(select(Scan.id, Scan.finding_count))}
    latest: dict[int, int] = {}
    series: dict[str, int] = {}
    for day, model_id, scan_id in days:
        latest[model_id] = counts[scan_id]
        series[str(day)] = sum(latest.values())
    return list(series.items())[-limit:]


def user_named(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def ensure_admin(session: Session, *, reset: bool = False) -> str | None:
    """On first start (no user at all), or when ``reset``, the ``admin`` user gets a new random password,
    returned to be shown once; None when nothing changed. The caller commits."""
    from modelseal.store.passwords import hash_password

    if user_count(session) and not reset:
        return None
    password = secrets.token_urlsafe(15)
    admin = user_named(session, "admin")
    if admin is None:
        admin = User(username="admin", role="admin", can_bypass=True, password_hash="")
        session.add(admin)
    admin.password_hash = hash_password(password)
    session.flush()
    return password
