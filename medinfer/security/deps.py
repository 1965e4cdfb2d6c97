"""FastAPI adapters: the ``Principal`` dependency and scope checks.

Usage in routes::

    @router.post("/v2/models/{model_name}/infer")
    async def infer(model_name: str, principal: InferPrincipal): ...

    @router.get("/v2/models", dependencies=[require("models:read")])

The app must set ``app.state.security = build_security(settings)`` in ``create_app``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from medinfer.common.errors import Unauthorized
from medinfer.common.http import request_source
from medinfer.security.principal import Principal, require_infer, require_scope
from medinfer.security.service import SecurityService

__all__ = ["authenticate", "CurrentPrincipal", "require", "InferPrincipal", "ModelReadPrincipal", "security_of"]


def security_of(request: Request) -> SecurityService:
    return request.app.state.security


async def authenticate(request: Request) -> Principal:
    """401 on a missing/bad token, 429 over the client's rate; records the principal for the audit."""
    sec = security_of(request)
    try:
        principal = await sec.authenticate(request.headers.get("authorization"))
    except Unauthorized:
        sec.failed_auth(request_source(request.scope))  # 429 instead once this source is over its budget
        raise
    request.scope.setdefault("state", {})["principal"] = principal
    sec.check_rate(principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(scope: str):
    """A dependency that needs ``scope`` (403 otherwise)."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        require_scope(principal, scope)
        return principal

    return Depends(_check)


def _path_model(request: Request) -> str:
    p = request.path_params
    return p.get("name") or p.get("model_name") or p.get("model") or ""


async def _infer_principal(request: Request, principal: CurrentPrincipal) -> Principal:
    require_infer(principal, _path_model(request))
    return principal


async def _model_read_principal(request: Request, principal: CurrentPrincipal) -> Principal:
    """``models:read``, or inference rights on that model (clients read metadata before they infer)."""
    if not principal.may_infer(_path_model(request)):
        require_scope(principal, "models:read")
    return principal


InferPrincipal = Annotated[Principal, Depends(_infer_principal)]
ModelReadPrincipal = Annotated[Principal, Depends(_model_read_principal)]
