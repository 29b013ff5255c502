"""The registry's tables, after Dependency-Track's data model, for models.

projects → model versions (one per manifest digest) → scans → findings; analyses are keyed by the model's
digest and the finding's rule and file, so a judgement carries over to every later scan of the same bytes.
Verdicts are cached per environment; reviews, waivers and bypasses are the decisions people take on them.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Setting(Base):
    """Service-wide values created on first start (the session signing secret)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    can_bypass: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Project(Base):
    """A deployment or service that runs models."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    environment: Mapped[str] = mapped_column(String(64), default="dev")
    criticality: Mapped[str] = mapped_column(String(32), default="")
    data_sensitivity: Mapped[str] = mapped_column(String(32), default="")
    exposure: Mapped[str] = mapped_column(String(32), default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    models: Mapped[list[ModelVersion]] = relationship(back_populates="project")


class ApiToken(Base):
    """A project-scoped token; only its SHA-256 is stored (tokens are random, 256 bits)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class ModelVersion(Base):
    """One model's exact bytes in one project, identified by its manifest digest."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("project_id", "digest"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(200), index=True)
    source: Mapped[str] = mapped_column(Text, default="")
    publisher_tier: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lock_status: Mapped[str] = mapped_column(String(16), default="missing")
    signature_status: Mapped[str] = mapped_column(String(16), default="unavailable")
    files: Mapped[list[Any]] = mapped_column(default=list)
    bom: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    project: Mapped[Project] = relationship(back_populates="models")


class Scan(Base):
    __tablename__ = "scans"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    tool_version: Mapped[str] = mapped_column(String(64))
    report: Mapped[dict[str, Any]] = mapped_column()
    """The uploaded scan report (schema scan-report-v1) of this one target."""
    finding_count: Mapped[int] = mapped_column(Integer, default=0)
    uploaded_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)


class FindingRow(Base):
    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(16))
    file: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[str] = mapped_column(Text, default="")


class Analysis(Base):
    """A person's judgement of one finding, carried over to later scans of the same digest."""

    __tablename__ = "analyses"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(200), index=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    file: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(32))
    justification: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class VerdictRow(Base):
    """The policy's latest verdict for a model version in one environment (a cache the gate refreshes)."""

    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("model_version_id", "environment"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    environment: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    decided_on: Mapped[date] = mapped_column(Date)
    stale: Mapped[bool] = mapped_column(Boolean, default=False)


class Review(Base):
    """Approve or reject: the policy's manual-review gate, per model version and environment."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    environment: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    justification: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class WaiverRow(Base):
    __tablename__ = "waivers"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(200))
    justification: Mapped[str] = mapped_column(Text)
    approver: Mapped[str] = mapped_column(String(128))
    expires: Mapped[date] = mapped_column(Date)
    environment: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class BypassRow(Base):
    __tablename__ = "bypasses"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    environment: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    identity: Mapped[str] = mapped_column(String(128))
    expires: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Picture(Base):
    """A trigger or mask picture from ``modelseal inspect`` (a checked PNG), shown on the model's page."""

    __tablename__ = "pictures"
    __table_args__ = (UniqueConstraint("model_version_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    png: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Inventory(Base):
    __tablename__ = "inventories"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class BlobVerdict(Base):
    """One file content's scan outcome under one scanner version and configuration (queue workers,
    :mod:`modelseal.queue`): the key is a digest of all three, so identical bytes are scanned once."""

    __tablename__ = "blob_verdicts"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(String(80))
    """The digest the mirror names the content by (``sha256:<hex>`` or ``git:<sha1>``)."""
    scanner_version: Mapped[str] = mapped_column(String(64))
    config_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    """``done``, or ``failed`` when every attempt crashed, hung or was killed (``reason`` says how)."""
    outcome: Mapped[list[Any]] = mapped_column()
    """The file's outcome as JSON (:func:`modelseal.parallel.encode_outcome`)."""
    reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Sweep(Base):
    """One ``modelseal sweep`` of a mirror: every snapshot in it is one model version to judge."""

    __tablename__ = "sweeps"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    mirror: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    blobs_total: Mapped[int] = mapped_column(Integer, default=0)
    """Distinct contents the sweep needed; those already judged were not enqueued again."""
    blobs_enqueued: Mapped[int] = mapped_column(Integer, default=0)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    """Bytes over every file of every snapshot (what scanning without dedup would read)."""
    bytes_enqueued: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class SweepVersion(Base):
    """One snapshot of a sweep: pending until a worker assembled its report from its files' verdicts."""

    __tablename__ = "sweep_versions"
    __table_args__ = (UniqueConstraint("sweep_id", "model", "revision"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id"), index=True)
    model: Mapped[str] = mapped_column(Text)
    revision: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    worst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The worst finding's severity (an int of :class:`~modelseal.core.findings.Severity`); None: none."""
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    """A file of it could not be scanned (its verdict is ``failed``)."""
    report: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    landed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Looked at by the registry: its report is a scan of every registry model version with its manifest
    digest (:mod:`modelseal.server.sweeps`)."""


class RegistryState(Base):
    """One row: a counter of committed changes, so every worker's gate cache knows when to forget.
    (The audit log's tables, ``audit_*``, are the audit package's: migration 0002.)"""

    __tablename__ = "registry_state"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)


class HeldItem(Base):
    """An answer the run-time defences held (``modelseal.runtime.ReviewSink``), waiting for a person:
    approve (the answer was fine) or reject. Input and output are the runtime's summaries, not raw data."""

    __tablename__ = "held_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(200), default="")
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    """The checks that held it (``low-confidence``, ``strip``, ``honeytoken``...)."""
    client: Mapped[str] = mapped_column(String(200), default="")
    input: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    held_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    """When the runtime held it (its clock); ``created_at`` is when the registry received it."""
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    """``pending``, ``approved`` or ``rejected``."""
    reviewer: Mapped[str] = mapped_column(String(128), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
