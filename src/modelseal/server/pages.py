"""The dashboard: server-rendered pages (Jinja2, autoescaped) with htmx for filtering without reloads.

Every string from a scan (global names, file names, model cards) comes from an attacker; templates only
ever print it as text (autoescape on, no ``|safe`` on data), and the Content-Security-Policy allows no
inline script. Every form carries the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelseal import __version__
from modelseal.server import charts
from modelseal.server.auth import COOKIE, Principal, check_password, csrf_ok, hash_password
from modelseal.server.deps import db, model_for, need, registry
from modelseal.store import repo
from modelseal.store.models import (
    BypassRow,
    ModelVersion,
    Picture,
    Project,
    Review,
    User,
    VerdictRow,
    WaiverRow,
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.globals["version"] = __version__
_SEVERITIES = ["critical", "high", "medium", "low", "info"]


def render(
    request: Request, name: str, who: Principal | None, status: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"who": who, **context}, status_code=status)


def render_error(request: Request, status: int, message: str, field: str = "") -> str:
    template = templates.get_template("error.html")
    return template.render(request=request, who=None, status=status, message=message, field=field)


def form_guard(who: Principal, csrf: str) -> None:
    if not csrf_ok(who, csrf):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page")


# -- log in ------------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", None, error="", oidc=request.app.state.settings.oidc is not None)


@router.post("/login")
def login(
    request: Request, username: str = Form(...), password: str = Form(...), session: Session = Depends(db)
) -> Response:
    user = repo.user_named(session, username)
    if user is None or not check_password(user.password_hash, password):
        return render(
            request,
            "login.html",
            None,
            status=401,
            error="Unknown user or wrong password.",
            oidc=request.app.state.settings.oidc is not None,
        )
    return signed_in(request, user, RedirectResponse("/", status_code=303))


def signed_in(request: Request, user: User, response: Response) -> Response:
    """``response`` with the session cookie of ``user`` (strict same-site, HTTP only)."""
    cookie, _ = request.app.state.sessions.issue(user)
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
def logout(csrf: str = Form(""), who: Principal = Depends(need("read"))) -> Response:
    form_guard(who, csrf)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


# -- portfolio ---------------------------------------------------------------------------------------

_SORTS = {
    "risk": lambda r: (-{"block": 2, "review": 1}.get(r.verdict or "", 0), -_rank(r.worst), -r.open_findings),
    "name": lambda r: (r.model.name.lower(),),
    "project": lambda r: (r.project.name.lower(), r.model.name.lower()),
    "findings": lambda r: (-r.open_findings,),
    "scanned": lambda r: (-r.scanned.timestamp(),),
}


def _rank(severity: str) -> int:
    return len(_SEVERITIES) - _SEVERITIES.index(severity) if severity in _SEVERITIES else 0


@router.get("/", response_class=HTMLResponse)
def portfolio(
    request: Request,
    q: str = "",
    verdict: str = "",
    sort: str = Query("risk", pattern="^(risk|name|project|findings|scanned)$"),
    who: Principal = Depends(need("read")),
    session: Session = Depends(db),
) -> HTMLResponse:
    rows = repo.portfolio(session)
    total = len(rows)
    counts = {v: sum(1 for r in rows if r.verdict == v) for v in ("allow", "review", "block")}
    needle = q.strip().lower()
    if needle:
        rows = [
            r
            for r in rows
            if needle in r.model.name.lower() or needle in r.project.name.lower() or needle in r.model.digest
        ]
    if verdict:
        rows = [r for r in rows if r.verdict == verdict]
    rows.sort(key=_SORTS[sort])
    name = "_portfolio_rows.html" if request.headers.get("hx-request") else "portfolio.html"
    chart = charts.line_chart(repo.open_findings_over_time(session))
    return render(
        request,
        name,
        who,
        rows=rows,
        q=q,
        verdict=verdict,
        sort=sort,
        counts=counts,
        chart=chart,
        total=total,
    )


# -- a model -----------------------------------------------------------------------------------------


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model_page(
    model_id: int, request: Request, who: Principal = Depends(need("read")), session: Session = Depends(db)
) -> HTMLResponse:
    model = model_for(session, who, model_id)
    scan = repo.latest_scan(session, model)
    findings = repo.findings_of(session, scan) if scan else []
    by_file: dict[str, list[Any]] = {}
    for f in findings:
        by_file.setdefault(f.file, []).append(f)
    reg = registry(request)
    envs = sorted(reg.policy.environments)
    verdicts = {env: reg.gate(session, model, env) for env in envs} if scan else {}
    return render(
        request,
        "model.html",
        who,
        model=model,
        scan=scan,
        by_file=by_file,
        analyses=repo.analyses_for(session, model.digest),
        verdicts=verdicts,
        envs=envs,
        states=repo.ANALYSIS_STATES,
        waivers=[w for w in repo.waivers_for(session, model.project_id) if w.digest == model.digest],
        reviews=session.scalars(
            select(Review).where(Review.model_version_id == model.id).order_by(Review.id.desc())
        ).all(),
        bypasses=session.scalars(select(BypassRow).where(BypassRow.model_version_id == model.id)).all(),
        lineage=_lineage(model.bom),
        pictures=repo.pictures_of(session, model),
        default_expiry=(date.today() + timedelta(days=30)).isoformat(),
        today=date.today(),
    )


@router.get("/models/{model_id}/pictures/{picture_id}.png")
def picture(
    model_id: int,
    picture_id: int,
    who: Principal = Depends(need("read")),
    session: Session = Depends(db),
) -> Response:
    """A picture's bytes, checked as PNG on upload, served as nothing but ``image/png``."""
    model = model_for(session, who, model_id)
    found = session.get(Picture, picture_id)
    if found is None or found.model_version_id != model.id:
        raise HTTPException(404, "no such picture")
    return Response(found.png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


def _lineage(bom: dict[str, Any] | None) -> list[str]:
    """The base models a ``modelseal bom`` BOM lists (from the model card), as ``org/name``."""
    names: list[str] = []
    for component in (bom or {}).get("components", []) or []:
        if isinstance(component, dict) and str(component.get("bom-ref", "")).startswith("base-model-"):
            group, name = component.get("group"), str(component.get("name", ""))
            names.append(f"{group}/{name}" if group else name)
    return names


@router.get("/models/{model_id}/bom.json")
def model_bom(
    model_id: int, who: Principal = Depends(need("read")), session: Session = Depends(db)
) -> Response:
    model = model_for(session, who, model_id)
    if model.bom is None:
        raise HTTPException(404, "no BOM uploaded for this model")
    return JSONResponse(
        model.bom, headers={"Content-Disposition": f'attachment; filename="bom-{model.id}.json"'}
    )


def _back(model: ModelVersion) -> RedirectResponse:
    return RedirectResponse(f"/models/{model.id}", status_code=303)


def acting_on(permission: str) -> Callable[..., tuple[Principal, ModelVersion]]:
    """A form's dependency: who submits it (with ``permission`` and the session's CSRF token) and the
    model version it acts on."""

    def check(
        model_id: int,
        csrf: str = Form(""),
        who: Principal = Depends(need(permission)),
        session: Session = Depends(db),
    ) -> tuple[Principal, ModelVersion]:
        form_guard(who, csrf)
        return who, model_for(session, who, model_id)

    return check


Acting = tuple[Principal, ModelVersion]


@router.post("/models/{model_id}/analysis")
def analyse(
    request: Request,
    rule_id: str = Form(...),
    file: str = Form(""),
    state: str = Form(...),
    justification: str = Form(""),
    acting: Acting = Depends(acting_on("review")),
    session: Session = Depends(db),
) -> Response:
    who, model = acting
    registry(request).analyse(session, model, rule_id, file, state, justification, who.name)
    return _back(model)


@router.post("/models/{model_id}/review")
def review(
    request: Request,
    environment: str = Form(...),
    decision: str = Form(...),
    justification: str = Form(""),
    acting: Acting = Depends(acting_on("review")),
    session: Session = Depends(db),
) -> Response:
    who, model = acting
    registry(request).review(session, model, environment, decision, justification, who.name)
    return _back(model)


@router.post("/models/{model_id}/waivers")
def waive(
    request: Request,
    rule: str = Form(...),
    expires: date = Form(...),
    justification: str = Form(""),
    environment: str = Form(""),
    acting: Acting = Depends(acting_on("review")),
    session: Session = Depends(db),
) -> Response:
    who, model = acting
    registry(request).waive(session, model, rule, expires, justification, who.name, environment)
    return _back(model)


@router.post("/models/{model_id}/bypass")
def bypass(
    request: Request,
    environment: str = Form(...),
    reason: str = Form(""),
    expires: date = Form(...),
    acting: Acting = Depends(acting_on("read")),
    session: Session = Depends(db),
) -> Response:
    who, model = acting
    if not who.can_bypass:
        raise HTTPException(403, "emergency bypass needs the bypass permission")
    registry(request).bypass(session, model, environment, reason, who.name, expires)
    return _back(model)


# -- queues and logs ---------------------------------------------------------------------------------


@router.get("/reviews", response_class=HTMLResponse)
def review_queue(
    request: Request, who: Principal = Depends(need("read")), session: Session = Depends(db)
) -> HTMLResponse:
    rows = session.execute(
        select(VerdictRow, ModelVersion)
        .join(ModelVersion, VerdictRow.model_version_id == ModelVersion.id)
        .where(VerdictRow.verdict.in_(("review", "block")))
        .order_by(VerdictRow.verdict, ModelVersion.name)
    ).all()
    return render(request, "reviews.html", who, rows=rows)


@router.get("/waivers", response_class=HTMLResponse)
def waivers(
    request: Request, who: Principal = Depends(need("read")), session: Session = Depends(db)
) -> HTMLResponse:
    rows = session.execute(
        select(WaiverRow, Project)
        .join(Project, WaiverRow.project_id == Project.id)
        .order_by(WaiverRow.expires)
    ).all()
    models = {m.digest: m for m in session.scalars(select(ModelVersion))}
    return render(
        request,
        "waivers.html",
        who,
        rows=rows,
        models=models,
        today=date.today(),
        soon=date.today() + timedelta(days=14),
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, who: Principal = Depends(need("read")), session: Session = Depends(db)
) -> HTMLResponse:
    from modelseal.api.audit import AuditLogError, verify_in

    reg = registry(request)
    entries: list[Any] = []
    try:
        result, log = verify_in(session.connection(), reg.audit_log)
        ok, problems = result.ok, [p.message for p in result.verification.problems]
        import json

        entries = [json.loads(record) for _, record in log.rows[-200:]][::-1]
    except AuditLogError as exc:
        ok, problems = False, [str(exc)]
    finally:
        session.rollback()  # the log's lock, taken for a consistent view
    where = f"the registry's database; key and witness beside {reg.audit_log}"
    return render(request, "audit.html", who, ok=ok, problems=problems, entries=entries, path=where)


# -- administration ----------------------------------------------------------------------------------


def _admin(request: Request, who: Principal, session: Session, **extra: Any) -> HTMLResponse:
    return render(
        request,
        "admin.html",
        who,
        users=session.scalars(select(User).order_by(User.username)).all(),
        projects=session.scalars(select(Project).order_by(Project.name)).all(),
        roles=repo.ROLES,
        envs=sorted(registry(request).policy.environments),
        token=None,
        **extra,
    )


@router.get("/admin", response_class=HTMLResponse)
def admin_page(
    request: Request, who: Principal = Depends(need("admin")), session: Session = Depends(db)
) -> HTMLResponse:
    return _admin(request, who, session)


@router.post("/admin/users")
def create_user(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    role: str = Form(...),
    can_bypass: bool = Form(False),
    csrf: str = Form(""),
    who: Principal = Depends(need("admin")),
    session: Session = Depends(db),
) -> Response:
    form_guard(who, csrf)
    if role not in repo.ROLES or len(password) < 12 or repo.user_named(session, username):
        raise HTTPException(422, "role must be known, the password 12 characters or more, the name new")
    session.add(
        User(username=username, password_hash=hash_password(password), role=role, can_bypass=can_bypass)
    )
    registry(request).commit(
        session, [("user", {"username": username, "role": role, "can_bypass": can_bypass, "by": who.name})]
    )
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/projects", response_class=HTMLResponse)
def create_project(
    request: Request,
    name: str = Form(...),
    environment: str = Form("dev"),
    criticality: str = Form(""),
    data_sensitivity: str = Form(""),
    exposure: str = Form(""),
    owner: str = Form(""),
    token_role: str = Form("uploader"),
    csrf: str = Form(""),
    who: Principal = Depends(need("admin")),
    session: Session = Depends(db),
) -> HTMLResponse:
    """Create a project and its first token, shown once on the page that answers."""
    form_guard(who, csrf)
    if repo.project_named(session, name) or environment not in registry(request).policy.environments:
        raise HTTPException(422, "the project exists already, or the policy has no such environment")
    project = Project(
        name=name,
        environment=environment,
        criticality=criticality,
        data_sensitivity=data_sensitivity,
        exposure=exposure,
        owner=owner,
    )
    session.add(project)
    session.flush()
    token = repo.create_token(session, project, token_role)
    registry(request).commit(
        session,
        [
            ("project", {"project": name, "environment": environment, "by": who.name}),
            ("token", {"project": name, "role": token_role, "by": who.name}),
        ],
    )
    return _admin(request, who, session, new_token=token, token_project=name)
