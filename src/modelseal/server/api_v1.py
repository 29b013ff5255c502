"""REST API under ``/api/v1``: uploads from CI, the gate, and the registry's records."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelseal.server.auth import Principal, csrf_ok
from modelseal.server.deps import db, model_for, need, project_for, reader, registry
from modelseal.server.gatecache import GateCache
from modelseal.server.service import Registry, RegistryError
from modelseal.store import repo
from modelseal.store.models import Inventory, ModelVersion

router = APIRouter(prefix="/api/v1", tags=["api"])
MAX_PICTURE_BYTES = 4 * 1024 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The request body: 413 past ``limit`` bytes (checked while reading)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RegistryError(413, f"upload larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RegistryError(413, f"upload larger than {limit} bytes")
    return bytes(body)


async def read_json(request: Request, limit: int) -> Any:
    """The request body as JSON: 413 past ``limit`` bytes, 422 when not JSON."""
    body = await read_body(request, limit)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError(422, f"body is not JSON: {exc}", "$") from None


class ModelOut(BaseModel):
    id: int
    name: str
    digest: str
    verdict: str | None = None


class UploadOut(BaseModel):
    project: str
    models: list[ModelOut]


class GateOut(BaseModel):
    verdict: Literal["allow", "review", "block"]
    reasons: list[dict[str, Any]]
    model: str
    digest: str
    environment: str


class BypassIn(BaseModel):
    environment: str
    reason: str = Field(min_length=1)
    expires: date


def _out(reg: Registry, session: Session, models: list[ModelVersion]) -> list[ModelOut]:
    return [
        ModelOut(
            id=m.id, name=m.name, digest=m.digest, verdict=reg.gate(session, m, m.project.environment).verdict
        )
        for m in models
    ]


@router.post("/projects/{project}/scans", response_model=UploadOut, status_code=201)
async def upload_scan(
    project: str, request: Request, who: Principal = Depends(need("upload")), session: Session = Depends(db)
) -> UploadOut:
    """Upload a scan report (``modelseal scan --format json --digests``: schema scan-report-v1)."""
    reg = registry(request)
    document = await read_json(request, reg.settings.max_upload_bytes)

    def store() -> UploadOut:
        found = project_for(session, who, project)
        models = reg.upload_report(session, found, document, who.name)
        return UploadOut(project=found.name, models=_out(reg, session, models))

    async with request.app.state.upload_slots:  # waiting uploads hold no thread and no connection
        return await run_in_threadpool(store)  # the database work must not hold the event loop


@router.post("/projects/{project}/boms", response_model=ModelOut, status_code=201)
async def upload_bom(
    project: str, request: Request, who: Principal = Depends(need("upload")), session: Session = Depends(db)
) -> ModelOut:
    """Attach a CycloneDX ML-BOM (``modelseal bom``) to the model version whose digest it names."""
    reg = registry(request)
    document = await read_json(request, reg.settings.max_upload_bytes)

    def store() -> ModelOut:
        model = reg.attach_bom(session, project_for(session, who, project), document, who.name)
        return ModelOut(id=model.id, name=model.name, digest=model.digest)

    async with request.app.state.upload_slots:
        return await run_in_threadpool(store)


@router.post("/projects/{project}/inventories", status_code=201)
async def upload_inventory(
    project: str, request: Request, who: Principal = Depends(need("upload")), session: Session = Depends(db)
) -> dict[str, Any]:
    """Store an inventory (``modelseal inventory --format json``) for the project."""
    reg = registry(request)
    document = await read_json(request, reg.settings.max_upload_bytes)
    if not isinstance(document, (dict, list)):
        raise RegistryError(422, "an inventory is a JSON object or array", "$")

    def store() -> dict[str, Any]:
        found = project_for(session, who, project)
        row = Inventory(project_id=found.id, document=document)
        session.add(row)
        reg.commit(session, [("inventory", {"project": found.name, "actor": who.name})])
        return {"id": row.id}

    async with request.app.state.upload_slots:
        return await run_in_threadpool(store)


@router.put("/projects/{project}/models/{digest}/pictures/{name}", status_code=201)
async def upload_picture(
    project: str,
    digest: str,
    name: str,
    request: Request,
    who: Principal = Depends(need("upload")),
    session: Session = Depends(db),
) -> dict[str, Any]:
    """Attach a picture from ``modelseal inspect`` (a PNG body, at most 4 MiB; a trigger or mask) to the
    model version with ``digest``; the same name replaces it. Shown on the model's page."""
    reg = registry(request)
    png = await read_body(request, MAX_PICTURE_BYTES)

    def store() -> dict[str, Any]:
        picture = reg.attach_picture(session, project_for(session, who, project), digest, name, png, who.name)
        return {"id": picture.id, "name": picture.name, "digest": digest}

    async with request.app.state.upload_slots:
        return await run_in_threadpool(store)


@router.get("/projects/{project}/models", response_model=list[ModelOut])
def list_models(
    project: str, request: Request, who: Principal = Depends(need("read")), session: Session = Depends(db)
) -> list[ModelOut]:
    found = project_for(session, who, project)
    models = list(session.scalars(select(ModelVersion).where(ModelVersion.project_id == found.id)))
    return _out(registry(request), session, models)


@router.get(
    "/gate",
    response_model=GateOut,
    responses={304: {"description": "Not modified: the verdict is the one the If-None-Match ETag names"}},
)
async def gate(
    request: Request,
    digest: str = Query(description="The model's manifest digest (sha256:...)"),
    env: str | None = Query(None, description="Environment; default: the project's"),
    project: str | None = Query(None, description="Project; default: the token's"),
) -> Response:
    """The verdict for a model in an environment, by the same policy evaluation as ``modelseal gate``.
    Answers carry an ETag and are kept until the registry changes (an upload, a review, a waiver...)."""
    who = await reader(request)
    cache: GateCache = request.app.state.gate_cache
    key = (who.project_id, project, digest, env)
    generation = cache.generation()  # read before the answer: a change in between only makes it stale
    answer = cache.answer(key, generation)
    if answer is None:
        status, body = await run_in_threadpool(_gate_answer, request, who, digest, env, project)
        answer = cache.remember(key, generation, status, body)
    headers = {"Cache-Control": "private, no-cache"}
    if answer.status == 200:
        headers["ETag"] = answer.etag
        if answer.etag in (
            tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")
        ):
            return Response(status_code=304, headers=headers)
    return Response(answer.body, answer.status, headers, media_type="application/json")


def _gate_answer(
    request: Request, who: Principal, digest: str, env: str | None, project: str | None
) -> tuple[int, bytes]:
    """(status, JSON body) of a gate query: 200 with the verdict, or 404 (both kept in the cache)."""
    reg = registry(request)
    with reg.session() as session:
        scope = who.project_id
        if project is not None:
            scope = project_for(session, who, project).id
        found_model = repo.model_for_gate(session, digest, scope, env)
        if found_model is None:
            return 404, _json({"detail": "no model version with this digest in your projects"})
        model, row = found_model
        found = reg.gate(session, model, env or model.project.environment, row)
        return 200, _json(
            {
                "verdict": found.verdict,
                "reasons": list(found.reasons),
                "model": found.model,
                "digest": found.digest,
                "environment": found.environment,
            }
        )


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@router.post("/models/{model_id}/bypass", status_code=201)
def bypass(
    model_id: int,
    body: BypassIn,
    request: Request,
    who: Principal = Depends(need("read")),
    session: Session = Depends(db),
) -> dict[str, str]:
    """An emergency bypass: needs the bypass permission (never a token's), always audited."""
    if not who.can_bypass:
        raise HTTPException(403, "emergency bypass needs the bypass permission")
    if not csrf_ok(who, request.headers.get("x-csrf-token", "")):  # a session's call from a page
        raise HTTPException(403, "X-CSRF-Token header missing or wrong")
    model = model_for(session, who, model_id)
    registry(request).bypass(session, model, body.environment, body.reason, who.name, body.expires)
    return {"status": "bypassed"}


@router.get("/audit/verify")
def audit_verify(
    request: Request, who: Principal = Depends(need("read")), session: Session = Depends(db)
) -> dict[str, Any]:
    from modelseal.api.audit import verify_in

    try:
        result = verify_in(session.connection(), registry(request).audit_log)[0]
    finally:
        session.rollback()  # the log's lock, taken for a consistent view
    return json.loads(result.to_json())  # type: ignore[no-any-return]


class SweepIn(BaseModel):
    mirror: str = Field(min_length=1)
    """A folder laid out like the Hugging Face cache, at the same path on the workers."""
    priority: Literal["ci", "user", "background"] = "user"


@router.post("/sweeps", status_code=202)
def start_sweep(body: SweepIn, request: Request, who: Principal = Depends(need("admin"))) -> dict[str, Any]:
    """Enqueue every snapshot of a mirror on the job queue (the registry's own PostgreSQL database); the
    workers' reports land as scans of the registry's model versions with the same manifest digest."""
    from dataclasses import asdict

    from modelseal.server.sweeps import enqueue

    if who.project_id is None and not csrf_ok(who, request.headers.get("x-csrf-token", "")):
        raise HTTPException(403, "X-CSRF-Token header missing or wrong")
    return asdict(enqueue(registry(request), body.mirror, body.priority, who.name))


@router.get("/sweeps/{sweep_id}")
def sweep_state(sweep_id: str, request: Request, who: Principal = Depends(need("read"))) -> dict[str, Any]:
    """Where a sweep stands: versions done, flagged (high or worse), failed."""
    from dataclasses import asdict

    from modelseal.server.sweeps import progress

    state = progress(registry(request), sweep_id)
    return asdict(state) | {"finished": state.finished}
