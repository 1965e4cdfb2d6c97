"""``/console``: thin routes that check the session and scopes, call :mod:`medinfer.console.data` or the
registry, and render templates. Every POST needs the session's CSRF token and a same-origin ``Origin``."""

# No `from __future__ import annotations`: FastAPI reads the signatures at runtime.

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from medinfer.audit import annotate
from medinfer.common.errors import MedinferError
from medinfer.console.auth import CONSOLE_SCOPES, ConsoleAuth, Viewer
from medinfer.console.charts import line_chart
from medinfer.console.data import (
    audit_search, audit_verify, disclosures_export, health_report, model_detail, models_overview,
)
from medinfer.console.session import LOGIN_COOKIE, SESSION_COOKIE

__all__ = ["create_router", "CSP"]

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescapes .html
templates.env.globals["line_chart"] = line_chart

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
ACTIONS = ("promote", "rollback", "canary", "canary-clear")


class ConsoleRefusal(Exception):
    def __init__(self, status: int, message: str, viewer: Viewer | None = None) -> None:
        self.status, self.message, self.viewer = status, message, viewer


def _headers() -> dict[str, str]:
    # same-origin: browsers send Origin on the console's own form posts (no-referrer would make it "null")
    return {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "Referrer-Policy": "same-origin"}


def _render(request: Request, template: str, viewer: Viewer | None, status: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.update(viewer=viewer, scopes=CONSOLE_SCOPES)
    return templates.TemplateResponse(request, template, ctx, status_code=status, headers=_headers())


def _cookie(resp: Response, name: str, value: str, *, max_age: int, samesite: str) -> None:
    resp.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite=samesite)


def create_router(auth: ConsoleAuth) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)

    async def viewer_of(request: Request, scope: str | None = None) -> Viewer:
        viewer = await auth.viewer(request.cookies.get(SESSION_COOKIE))
        if viewer is None:
            raise ConsoleRefusal(401, "sign in to use the console")
        request.scope.setdefault("state", {})["principal"] = viewer.principal  # the audit record's actor
        if scope is not None and not viewer.may(scope):
            raise ConsoleRefusal(403, f"your token lacks the scope '{scope}'", viewer)  # the nav shows what it has
        return viewer

    async def form_of(request: Request, viewer: Viewer) -> dict[str, str]:
        """The posted form, once its CSRF token and origin check out."""
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            raise ConsoleRefusal(403, "cross-origin form posts are refused")
        form = await request.form(max_files=0, max_fields=20)
        data = {k: v for k, v in form.items() if isinstance(v, str)}
        if not viewer.session.csrf_ok(data.get("csrf")):
            raise ConsoleRefusal(403, "the form's CSRF token is missing or wrong; reload the page and try again")
        return data

    def refused(request: Request, exc: ConsoleRefusal) -> Response:
        if exc.status == 401 and request.method == "GET":
            return RedirectResponse("/console/login", status_code=303, headers=_headers())
        return _render(request, "error.html", exc.viewer, status=exc.status, message=exc.message)

    def page(scope: str | None):
        """Decorator: the route gets a checked viewer; refusals render as pages."""
        def wrap(fn):
            async def route(request: Request) -> Response:
                try:
                    viewer = await viewer_of(request, scope)
                    return await fn(request, viewer)
                except ConsoleRefusal as exc:
                    return refused(request, exc)
            route.__name__ = fn.__name__
            return route
        return wrap

    # ---- sign in / out ------------------------------------------------------------------------------
    @router.get("/login")
    async def login(request: Request) -> Response:
        return _render(request, "login.html", None, oidc=auth.oidc is not None, dev_login=auth.dev_login,
                       issuer=auth.settings.oidc_issuer)

    def redirect_uri(request: Request) -> str:
        base = auth.settings.console_public_url or f"{request.url.scheme}://{request.url.netloc}"
        return base.rstrip("/") + "/console/auth/callback"

    @router.get("/auth/start")
    async def auth_start(request: Request) -> Response:
        if auth.oidc is None:
            return _render(request, "error.html", None, status=404, message="no OpenID provider is configured")
        start = await auth.oidc.start(redirect_uri(request))
        resp = RedirectResponse(start.url, status_code=303, headers=_headers())
        _cookie(resp, LOGIN_COOKIE, auth.codec.login_state(start.state, start.verifier, start.nonce),
                max_age=600, samesite="lax")
        return resp

    def signed_in(request: Request, token: str) -> Response:
        _, sealed = auth.codec.new_session(token)
        # A page, not a redirect: after the provider's cross-site redirect the Strict cookie would not be sent
        # on a redirected request; a same-site navigation from this page carries it.
        resp = _render(request, "signed_in.html", None)
        _cookie(resp, SESSION_COOKIE, sealed, max_age=auth.codec.max_age_s, samesite="strict")
        resp.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return resp

    @router.get("/auth/callback")
    async def auth_callback(request: Request) -> Response:
        pending = auth.codec.pending_login(request.cookies.get(LOGIN_COOKIE))
        q = request.query_params
        if auth.oidc is None or pending is None or q.get("state") != pending["s"] or not q.get("code"):
            msg = "the provider refused the login" if q.get("error") else "this login is stale or not ours"
            return _render(request, "error.html", None, status=400, message=msg + "; start again")
        try:
            token = await auth.oidc.exchange(q["code"], pending["v"], redirect_uri(request))
            await auth.security.authenticate("Bearer " + token)
        except MedinferError as exc:
            return _render(request, "error.html", None, status=exc.status, message=exc.detail or exc.title)
        return signed_in(request, token)

    @router.post("/auth/dev")
    async def dev_login(request: Request) -> Response:
        if not auth.dev_login:
            return _render(request, "error.html", None, status=404, message="not found")
        form = await request.form(max_files=0, max_fields=10)
        try:
            token = auth.dev_token(str(form.get("sub", "")), [str(s) for s in form.getlist("scope")])
        except MedinferError as exc:
            return _render(request, "error.html", None, status=exc.status, message=exc.detail or exc.title)
        return signed_in(request, token)

    @router.post("/logout")
    @page(None)
    async def logout(request: Request, viewer: Viewer) -> Response:
        await form_of(request, viewer)
        resp = RedirectResponse("/console/login", status_code=303, headers=_headers())
        resp.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return resp

    # ---- pages -----------------------------------------------------------------------------------
    @router.get("")
    @router.get("/")
    async def index() -> Response:
        return RedirectResponse("/console/models", status_code=303, headers=_headers())

    def registry(request: Request):
        reg = getattr(request.app.state, "registry", None)
        if reg is None:
            raise ConsoleRefusal(503, "registry routing is switched off on this gateway")
        return reg

    @router.get("/models")
    @page("models:read")
    async def models(request: Request, viewer: Viewer) -> Response:
        rows = await run_in_threadpool(models_overview, registry(request), request.app.state.console_sampler)
        return _render(request, "models.html", viewer, models=rows)

    async def show_model(request: Request, viewer: Viewer, name: str, status: int = 200, **extra: Any) -> Response:
        try:
            model = await run_in_threadpool(model_detail, registry(request), name, request.app.state.console_sampler)
        except MedinferError as exc:
            raise ConsoleRefusal(exc.status, exc.detail or exc.title) from None
        return _render(request, "model.html", viewer, status=status, model=model, **extra)

    @router.get("/models/{name}")
    @page("models:read")
    async def model(request: Request, viewer: Viewer) -> Response:
        done = request.query_params.get("done")
        return await show_model(request, viewer, request.path_params["name"],
                                notice=f"{done} done" if done in ACTIONS else None)

    @router.post("/models/{name}/{action}")
    @page("models:write")
    async def model_action(request: Request, viewer: Viewer) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        if action not in ACTIONS:
            raise ConsoleRefusal(404, "no such action")
        form = await form_of(request, viewer)
        reason = form.get("reason", "").strip()
        if not reason or len(reason) > 1000:
            return await show_model(request, viewer, name, status=422,
                                    error="a reason (at most 1000 characters) is required for every action")
        if form.get("confirm") != "yes":
            return _render(request, "confirm.html", viewer, name=name, action=action, form=form)
        reg, actor = registry(request), viewer.principal.sub
        try:
            if action == "promote":
                result = await run_in_threadpool(lambda: reg.promote(name, int(form["version"]), actor=actor,
                                                                     reason=reason))
            elif action == "rollback":
                result = await run_in_threadpool(lambda: reg.rollback(name, actor=actor, reason=reason))
            elif action == "canary":
                result = await run_in_threadpool(lambda: reg.set_canary(
                    name, int(form["version"]), float(form["weight"]), actor=actor, reason=reason))
            else:
                result = await run_in_threadpool(lambda: reg.clear_canary(name, actor=actor, reason=reason))
        except (KeyError, ValueError):
            return await show_model(request, viewer, name, status=422, error="version and weight must be numbers")
        except MedinferError as exc:
            return await show_model(request, viewer, name, status=exc.status, error=exc.detail or exc.title)
        del result
        # Post/Redirect/Get: a reload shows the model again instead of re-posting the action
        return RedirectResponse(f"/console/models/{name}?done={action}", status_code=303, headers=_headers())

    @router.get("/audit")
    @page("audit:read")
    async def audit_page(request: Request, viewer: Viewer) -> Response:
        ledger = request.app.state.security.ledger
        if ledger is None:
            raise ConsoleRefusal(503, "the audit ledger is switched off on this gateway")
        q = dict(request.query_params)
        results, error = None, None
        if any(q.get(k) for k in ("request_id", "sub", "client_id", "model", "route", "action", "status", "since",
                                  "until", "search")):
            try:
                results = await run_in_threadpool(audit_search, ledger, q)
            except (MedinferError, ValueError) as exc:
                error = getattr(exc, "detail", None) or "status must be a number"
        return _render(request, "audit.html", viewer, q=q, results=results, error=error, verify=None)

    @router.post("/audit/verify")
    @page("audit:read")
    async def audit_verify_page(request: Request, viewer: Viewer) -> Response:
        await form_of(request, viewer)
        ledger = request.app.state.security.ledger
        if ledger is None:
            raise ConsoleRefusal(503, "the audit ledger is switched off on this gateway")
        report = await run_in_threadpool(audit_verify, ledger, request.app.state.settings)
        return _render(request, "audit.html", viewer, q={}, results=None, error=None, verify=report)

    @router.post("/audit/disclosures")
    @page("audit:read")
    async def audit_disclosures(request: Request, viewer: Viewer) -> Response:
        form = await form_of(request, viewer)
        ledger = request.app.state.security.ledger
        key = form.get("patient_key", "").strip()
        fmt = form.get("format", "json")
        if ledger is None or not key or fmt not in ("json", "csv"):
            raise ConsoleRefusal(422, "a patient key and a format (csv or json) are required")
        annotate(request.scope, patient_key=key)  # the export is itself a disclosure-relevant access
        try:
            body, media = await run_in_threadpool(disclosures_export, ledger, key, form.get("since") or None, fmt)
        except MedinferError as exc:
            raise ConsoleRefusal(exc.status, exc.detail or exc.title) from None
        return Response(body, media_type=media, headers={
            **_headers(), "Content-Disposition": f'attachment; filename="disclosures.{fmt}"'})

    @router.get("/health")
    @page("models:read")
    async def health(request: Request, viewer: Viewer) -> Response:
        report = await health_report(request.app.state)
        return _render(request, "health.html", viewer, health=report)

    @router.get("/monitoring")
    @page("models:read")
    async def monitoring(request: Request, viewer: Viewer) -> Response:
        monitor = request.app.state.drift_monitor
        history = request.app.state.console_drift_history
        rows = []
        if monitor is not None:
            for name in sorted({m for m, _ in monitor.keys()}):
                snaps = await run_in_threadpool(monitor.snapshot, name)
                history.observe(name, snaps)
                for snap in snaps:
                    mon = monitor.get(name, str(snap["version"]))
                    rows.append({"snap": snap, "points": history.points(name, str(snap["version"])),
                                 "profile": _profile_summary(mon)})
        return _render(request, "monitoring.html", viewer, rows=rows, enabled=monitor is not None)

    return router


def _profile_summary(mon) -> dict[str, Any]:
    if mon is None:
        return {}
    p = mon.profile
    return {"kind": mon.kind, "features": list(mon.feature_names)[:40],
            "reference_records": getattr(p, "n_reference", None) or getattr(p, "count", None),
            "policy": mon.policy}

