"""Route dependencies: the database session, who is asking, and the permission a route needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from modelseal.server.auth import COOKIE, Principal, bearer
from modelseal.server.service import Registry
from modelseal.store import repo
from modelseal.store.models import ModelVersion, Project


def registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


def db(request: Request) -> Iterator[Session]:
    with registry(request).session() as session:
        yield session


def principal(request: Request, session: Session = Depends(db)) -> Principal | None:
    """A token (``Authorization: Bearer``) or a dashboard session, or nobody."""
    try:
        return _principal(request, session)
    finally:
        session.commit()  # give the connection back while the request reads its body or waits its turn


def _principal(request: Request, session: Session) -> Principal | None:
    token = bearer(request)
    if token is not None:
        found = repo.token_for(session, token)
        return Principal(f"token:{found.prefix}", found.role, found.project_id) if found else None
    cookie = request.cookies.get(COOKIE)
    data = request.app.state.sessions.read(cookie) if cookie else None
    if data is None:
        return None
    user = repo.user_named(session, str(data.get("u", "")))
    if user is None:
        return None
    return Principal(user.username, user.role, None, user.can_bypass, str(data.get("c", "")))


async def reader(request: Request) -> Principal:
    """A principal that may read, for the gate's hot path: a token verified in the last few seconds is
    taken from the cache; anything else is looked up (in a thread) as :func:`principal` does."""
    cache = request.app.state.gate_cache
    token = bearer(request)
    who = cache.token(token) if token else None
    if who is None:
        who = await run_in_threadpool(_looked_up, request)
        if token and who:
            cache.remember_token(token, who)
    return need("read")(who)


def _looked_up(request: Request) -> Principal | None:
    with registry(request).session() as session:
        return _principal(request, session)


def need(permission: str) -> Callable[..., Principal]:
    """A dependency that answers 401 to nobody and 403 to a principal without ``permission``."""

    def check(who: Principal | None = Depends(principal)) -> Principal:
        if who is None:
            raise HTTPException(401, "log in or send a token (Authorization: Bearer ...)")
        if not who.may(permission):
            raise HTTPException(403, f"the {who.role} role may not {permission}")
        return who

    return check


def project_for(session: Session, who: Principal, name: str) -> Project:
    """The project, if ``who`` may see it; a token for another project gets 403 (never its data)."""
    project = repo.project_named(session, name)
    if project is None:
        raise HTTPException(404 if who.project_id is None else 403, "no such project for this principal")
    if not who.sees(project.id):
        raise HTTPException(403, "this token is scoped to another project")
    return project


def model_for(session: Session, who: Principal, model_id: int) -> ModelVersion:
    model = session.get(ModelVersion, model_id)
    if model is None or not who.sees(model.project_id):
        raise HTTPException(404, "no such model version")
    return model
