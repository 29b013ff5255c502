"""The review queue for answers the run-time defences held (``modelseal.runtime.ReviewSink``).

A serving process posts what it held with its project's upload token; reviewers list the pending items
and approve (the answer was fine: a false alarm to learn from) or reject them. Receiving items is not an
audit event (a client probing for a trigger could fill the log); every decision is, in the same
transaction as the decision itself. A decision is taken once: the second answer to the same item is 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelseal.server.api_v1 import read_json
from modelseal.server.auth import Principal, csrf_ok
from modelseal.server.deps import db, need, project_for, registry
from modelseal.server.pages import form_guard, render
from modelseal.server.service import Registry, RegistryError
from modelseal.store.models import HeldItem, Project, now

api = APIRouter(prefix="/api/v1", tags=["held answers"])
pages = APIRouter(include_in_schema=False)
MAX_BATCH_BYTES = 1 << 20
MAX_ITEMS = 100
STATES = ("pending", "approved", "rejected")
DECISIONS = {"approve": "approved", "reject": "rejected"}
Summary = dict[str, Any]


class HeldIn(BaseModel):
    model: str = Field(min_length=1, max_length=200)
    digest: str = Field("", max_length=200)
    reasons: list[str] = Field(min_length=1, max_length=32)
    client: str | None = Field(None, max_length=200)
    input: Summary | None = None
    """The runtime's summary of the input (shape, digest, a short excerpt), never the raw data."""
    output: Summary | None = None
    held_at: datetime | None = None


class HeldBatch(BaseModel):
    items: list[HeldIn] = Field(min_length=1, max_length=MAX_ITEMS)


class HeldOut(BaseModel):
    id: int
    project: str
    model: str
    digest: str
    reasons: list[str]
    client: str
    input: Summary | None
    output: Summary | None
    held_at: datetime
    state: str
    reviewer: str
    note: str
    decided_at: datetime | None


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    note: str = Field("", max_length=2000)


def _out(item: HeldItem, project: Project) -> HeldOut:
    return HeldOut(
        id=item.id,
        project=project.name,
        model=item.model,
        digest=item.digest,
        reasons=[str(r) for r in item.reasons],
        client=item.client,
        input=item.input,
        output=item.output,
        held_at=item.held_at,
        state=item.state,
        reviewer=item.reviewer,
        note=item.note,
        decided_at=item.decided_at,
    )


def listed(
    session: Session, who: Principal, state: str, project: str | None, limit: int
) -> list[tuple[HeldItem, Project]]:
    """Held items in ``state`` that ``who`` may see, oldest first (the order a queue is worked in)."""
    query = select(HeldItem, Project).join(Project, HeldItem.project_id == Project.id)
    if project is not None:
        query = query.where(HeldItem.project_id == project_for(session, who, project).id)
    elif who.project_id is not None:
        query = query.where(HeldItem.project_id == who.project_id)
    query = query.where(HeldItem.state == state).order_by(HeldItem.id).limit(limit)
    return [(item, proj) for item, proj in session.execute(query).all()]


def decide(
    reg: Registry, session: Session, who: Principal, item_id: int, decision: str, note: str
) -> HeldItem:
    """Approve or reject one pending item, audited with it; 404 for an item ``who`` may not see, 409 once
    decided (a conditional update, so two reviewers at once cannot both decide)."""
    item = session.get(HeldItem, item_id)
    if item is None or not who.sees(item.project_id):
        raise RegistryError(404, "no such held item")
    state = DECISIONS.get(decision)
    if state is None:
        raise RegistryError(422, "decision is approve or reject", "decision")
    when = now()
    changed = session.execute(
        update(HeldItem)
        .where(HeldItem.id == item_id, HeldItem.state == "pending")
        .values(state=state, reviewer=who.name, note=note, decided_at=when)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise RegistryError(409, f"held item {item_id} was already decided")
    project = session.get(Project, item.project_id)
    event = {
        "id": item_id,
        "project": project.name if project else "",
        "model": item.model,
        "reasons": list(item.reasons),
        "client": item.client,
        "decision": decision,
        "note": note,
        "reviewer": who.name,
    }
    reg.commit(session, [("held-decision", event)])
    session.refresh(item)
    return item


# -- API ---------------------------------------------------------------------------------------------


@api.post("/projects/{project}/held", status_code=201)
async def post_held(
    project: str, request: Request, who: Principal = Depends(need("upload")), session: Session = Depends(db)
) -> dict[str, list[int]]:
    """Queue answers a serving process held (``modelseal.runtime.ReviewSink``): at most 100 per call,
    1 MiB in all; the token is the project's (role ``uploader``)."""
    document = await read_json(request, MAX_BATCH_BYTES)
    try:
        batch = HeldBatch.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "$." + ".".join(str(p) for p in first.get("loc", ()))
        raise RegistryError(422, str(first.get("msg", "invalid held items")), where) from None

    def store() -> dict[str, list[int]]:
        found = project_for(session, who, project)
        rows = [
            HeldItem(
                project_id=found.id,
                model=i.model,
                digest=i.digest,
                reasons=i.reasons,
                client=i.client or "",
                input=i.input,
                output=i.output,
                held_at=i.held_at or now(),
            )
            for i in batch.items
        ]
        session.add_all(rows)
        session.commit()
        return {"ids": [r.id for r in rows]}

    async with request.app.state.upload_slots:
        return await run_in_threadpool(store)


@api.get("/held", response_model=list[HeldOut])
def list_held(
    state: str = Query("pending", pattern="^(pending|approved|rejected)$"),
    project: str | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    who: Principal = Depends(need("read")),
    session: Session = Depends(db),
) -> list[HeldOut]:
    """Held items in one state (default: pending), oldest first; a token sees its project's only."""
    return [_out(item, proj) for item, proj in listed(session, who, state, project, limit)]


@api.post("/held/{item_id}/decision", response_model=HeldOut)
def decide_held(
    item_id: int,
    body: DecisionIn,
    request: Request,
    who: Principal = Depends(need("review")),
    session: Session = Depends(db),
) -> HeldOut:
    """Approve or reject a pending item (role ``reviewer`` or ``admin``; a dashboard session also sends
    its ``X-CSRF-Token``). Audited as ``held-decision``."""
    if who.project_id is None and not csrf_ok(who, request.headers.get("x-csrf-token", "")):
        raise HTTPException(403, "X-CSRF-Token header missing or wrong")
    item = decide(registry(request), session, who, item_id, body.decision, body.note)
    project = session.get(Project, item.project_id)
    assert project is not None
    return _out(item, project)


# -- dashboard ---------------------------------------------------------------------------------------


@pages.get("/held", response_class=HTMLResponse)
def held_page(
    request: Request,
    state: str = Query("pending", pattern="^(pending|approved|rejected)$"),
    who: Principal = Depends(need("read")),
    session: Session = Depends(db),
) -> HTMLResponse:
    rows = listed(session, who, state, None, 500)
    return render(request, "held.html", who, rows=rows, state=state, states=STATES)


@pages.post("/held/{item_id}/decision")
def held_decision(
    item_id: int,
    request: Request,
    decision: str = Form(...),
    note: str = Form(""),
    csrf: str = Form(""),
    who: Principal = Depends(need("review")),
    session: Session = Depends(db),
) -> Response:
    form_guard(who, csrf)
    decide(registry(request), session, who, item_id, decision, note[:2000])
    return RedirectResponse("/held", status_code=303)
